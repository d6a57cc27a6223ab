/* test_list.h - every C unit test, by name. */
#define CRATER_TEST_LIST(XX) \
  XX(buf_append_grows)       \
  XX(buf_append_u64)         \
  XX(http_reason)            \
  XX(http_status_line)       \
  XX(http_problem)           \
  XX(http_date_cached)       \
  XX(config_defaults)        \
  XX(strerror_names)         \
  XX(embed_two_servers_one_loop) \
  XX(embed_two_threads) \
  XX(embed_load_close_load) \
  XX(embed_inject_matches_socket) \
  XX(embed_inject_matches_socket_todo_api) \
  XX(embed_inject_checks_and_limits) \
  XX(embed_inject_async_and_close) \
  XX(embed_register_modules) \
  XX(embed_listen_fd_and_several_listeners) \
  XX(embed_log_cb_gets_every_line) \
  XX(embed_lua_path_config_and_env) \
  XX(embed_inject_nested_and_truncated_stream) \
  XX(server_new_free)        \
  XX(server_load_error_names_line) \
  XX(server_listen_bad_host)      \
  XX(reload_swaps_generations_and_keeps_old_on_error) \
  XX(reload_bad_arguments) \
  XX(reload_hooks_run_and_failing_hook_keeps_old) \
  XX(reload_with_strings_fds_and_injection) \
  XX(pipeline_wait_answers_later_and_serves_others_meanwhile) \
  XX(pipeline_wait_keeps_pipelined_answers_in_order) \
  XX(pipeline_wait_injected) \
  XX(pipeline_wait_cancelled_when_the_client_resets) \
  XX(pipeline_wait_and_shutdown) \
  XX(pipeline_wait_across_a_reload)
