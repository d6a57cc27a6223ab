/* config.h - config.c: a server's own copy of a crater_config. */
#ifndef CRATER_CONFIG_H
#define CRATER_CONFIG_H

#include "crater.h"

/* Copies src (NULL: the defaults) into dst, reading src->size bytes and
 * taking defaults for fields the caller's crater.h did not have. Returns 0,
 * or CRATER_EINVAL when src->size is smaller than any crater_config. */
int crater__config_copy(crater_config *dst, const crater_config *src);

#endif
