"""`crater validate`: JSON Schema validation from the command line.

Exit status 0 when every file is valid, 1 when any is invalid, 2 for a bad
schema, an unreadable file or malformed JSON (with the file and byte offset).
Every error is printed with its JSON Pointer."""
import json
import os
import subprocess
import tempfile
import unittest

from harness import BIN, ROOT, run

SCHEMAS = os.path.join(ROOT, "examples", "schemas")


def schema_file(name):
    return os.path.join(SCHEMAS, name)


class Validate(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="crater-validate-")

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, text):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def crater(self, *args):
        out = subprocess.run([BIN, "validate", *args], capture_output=True, timeout=60)
        return out.returncode, out.stdout.decode(), out.stderr.decode()

    def test_valid_files_exit_0(self):
        rc, out, err = self.crater("--schema", schema_file("item.schema.json"), schema_file("item.json"))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "%s: valid\n" % schema_file("item.json"))
        self.assertEqual(err, "")

    def test_invalid_file_lists_every_error_with_pointer(self):
        rc, out, err = self.crater("--schema", schema_file("order.schema.json"),
                                   schema_file("order.json"), schema_file("order-invalid.json"))
        self.assertEqual(rc, 1, err)
        lines = out.splitlines()
        self.assertEqual(lines[0], "%s: valid" % schema_file("order.json"))
        self.assertEqual(lines[1], "%s: invalid" % schema_file("order-invalid.json"))
        self.assertIn("  /lines/7/qty: must be >= 1 (minimum)", lines)
        self.assertIn("  /lines/12/sku: must match the pattern ^[A-Z]{3}-[0-9]{4}$ (pattern)", lines)
        self.assertIn("  /customer/email: must be a valid email (format)", lines)
        self.assertIn('  /status: must be one of: "new", "paid", "shipped", "cancelled" (enum)', lines)
        self.assertEqual(len(lines), 2 + 6)

    def test_json_output(self):
        rc, out, _ = self.crater("--json", "--schema", schema_file("item.schema.json"),
                                 schema_file("item-invalid.json"), schema_file("item.json"))
        self.assertEqual(rc, 1)
        first, second = [json.loads(line) for line in out.splitlines()]
        self.assertFalse(first["valid"])
        self.assertEqual(sorted(e["pointer"] for e in first["errors"]), ["/name", "/price", "/tags/1"])
        self.assertEqual(second, {"file": schema_file("item.json"), "valid": True, "errors": []})

    def test_malformed_data_exits_2_with_byte_offset(self):
        bad = self.write("bad.json", '{"name": "x",}')
        rc, out, err = self.crater("--schema", schema_file("item.schema.json"), bad, schema_file("item.json"))
        self.assertEqual(rc, 2)
        self.assertIn("%s: unexpected character '}' in object (expected a string key) at byte 14" % bad, err)
        self.assertIn("item.json: valid", out)

    def test_malformed_data_wins_over_invalid(self):
        bad = self.write("bad.json", "[1, 2")
        rc, _, err = self.crater("--schema", schema_file("item.schema.json"), schema_file("item-invalid.json"), bad)
        self.assertEqual(rc, 2)
        self.assertIn("unexpected end of input at byte 6", err)

    def test_bad_schema_exits_2(self):
        bad = self.write("schema.json", '{"properties": {"a": {"type": "strin"}}}')
        rc, out, err = self.crater("--schema", bad, schema_file("item.json"))
        self.assertEqual(rc, 2)
        self.assertEqual(out, "")
        self.assertEqual(err, "crater validate: %s: invalid schema at /properties/a/type: unknown type 'strin'\n" % bad)
        broken = self.write("broken.json", "{")
        rc, _, err = self.crater("--schema", broken, schema_file("item.json"))
        self.assertEqual(rc, 2)
        self.assertIn("%s: unexpected end of input at byte 2" % broken, err)

    def test_missing_file_and_usage_errors_exit_2(self):
        rc, _, err = self.crater("--schema", schema_file("item.schema.json"), "/nonexistent/x.json")
        self.assertEqual(rc, 2)
        self.assertIn("/nonexistent/x.json", err)
        rc, _, err = self.crater()
        self.assertEqual(rc, 2)
        self.assertIn("usage: crater validate", err)
        rc, _, err = self.crater("--schema")
        self.assertEqual(rc, 2)
        self.assertIn("--schema needs a file", err)
        rc, _, err = self.crater("--frobnicate", "--schema", schema_file("item.schema.json"), "x")
        self.assertEqual(rc, 2)
        self.assertIn("unknown option --frobnicate", err)

    def test_coerce_and_defaults(self):
        schema = self.write("q.json", json.dumps({
            "type": "object",
            "properties": {"page": {"type": "integer", "default": 1}, "q": {"type": "string"},
                           "tags": {"type": "array", "items": {"type": "integer"}}}}))
        data = self.write("d.json", '{"q": "x", "tags": "7"}')
        rc, out, _ = self.crater("--schema", schema, data)
        self.assertEqual(rc, 1)
        self.assertIn("/tags: must be array (type)", out)
        rc, out, _ = self.crater("--coerce", "--defaults", "--schema", schema, data)
        self.assertEqual(rc, 0, out)
        self.assertEqual(json.loads(out.splitlines()[1]), {"q": "x", "tags": [7], "page": 1})

    def test_emit_prints_loadable_lua_naming_schema_paths(self):
        rc, out, err = self.crater("--emit", schema_file("item.schema.json"))
        self.assertEqual(rc, 0, err)
        self.assertEqual(err, "")
        self.assertTrue(out.startswith("-- Generated by crater.schema"), out[:200])
        # valid Lua: luajit compiles it to bytecode, and loadstring takes it
        src = self.write("item.lua", out)
        listing = subprocess.run(["luajit", "-bl", src], capture_output=True, timeout=60)
        self.assertEqual(listing.returncode, 0, listing.stderr.decode())
        loaded = subprocess.run(["luajit", "-e", "assert(loadstring(io.read('*a')))"], input=out.encode(),
                                capture_output=True, timeout=60)
        self.assertEqual(loaded.returncode, 0, loaded.stderr.decode())
        # every check says where in the schema it comes from, and is indented
        lines = out.splitlines()
        for path in ("#/type", "#/required (name)", "#/properties/name/minLength",
                     "#/properties/price/exclusiveMinimum", "#/properties/tags/maxItems",
                     "#/properties/tags/items/type"):
            self.assertEqual(sum(1 for l in lines if l.strip() == "-- " + path), 1, path)
        self.assertIn("          if x3 <= 0 then", lines)
        # a $ref says where it points; coerce and defaults show in the code
        rc, out, err = self.crater("--coerce", "--defaults", "--emit", schema_file("order.schema.json"))
        self.assertEqual(rc, 0, err)
        self.assertIn("-- #/properties/lines/items/$ref: #/$defs/line", out)
        self.assertIn("-- #/properties/lines/items/$ref/properties/sku/pattern", out)
        self.assertIn("coerce = true, defaults = true", out.splitlines()[0])

    def test_emit_usage_and_bad_schema_exit_2(self):
        bad = self.write("schema.json", '{"properties": {"a": {"type": "strin"}}}')
        rc, out, err = self.crater("--emit", bad)
        self.assertEqual(rc, 2)
        self.assertEqual(out, "")
        self.assertEqual(err, "crater validate: %s: invalid schema at /properties/a/type: unknown type 'strin'\n" % bad)
        rc, _, err = self.crater("--emit", schema_file("item.schema.json"), schema_file("item.json"))
        self.assertEqual(rc, 2)
        self.assertIn("--emit prints the schema's code and validates no file", err)
        rc, _, err = self.crater("--emit")
        self.assertEqual(rc, 2)
        self.assertIn("--emit needs a file", err)

    def test_help(self):
        rc, out, _ = self.crater("--help")
        self.assertEqual(rc, 0)
        self.assertIn("usage: crater validate --schema SCHEMA.json", out)
        self.assertIn("crater validate --emit SCHEMA.json", out)
        out = subprocess.run([BIN, "--help"], capture_output=True).stdout.decode()
        self.assertIn("crater validate --schema SCHEMA.json DATA.json...", out)

    def test_refs_to_other_files_resolve_relative_to_the_referring_file(self):
        os.mkdir(os.path.join(self.tmp.name, "sub"))
        main = self.write("main.json", json.dumps({
            "type": "object", "required": ["ship_to"],
            "properties": {"ship_to": {"$ref": "common.json#/$defs/Address"},
                           "tags": {"$ref": "sub/tags.json"}}}))
        self.write("common.json", json.dumps({"$defs": {
            "Address": {"type": "object", "required": ["zip"],
                        "properties": {"zip": {"type": "string", "pattern": "^[0-9]{5}$"}}},
            "Tag": {"type": "string", "maxLength": 3}}}))
        # sub/tags.json refers back up: relative to sub/, not to main.json
        self.write("sub/tags.json", json.dumps({"type": "array", "items": {"$ref": "../common.json#/$defs/Tag"}}))
        good = self.write("good.json", '{"ship_to": {"zip": "12345"}, "tags": ["ok"]}')
        bad = self.write("bad.json", '{"ship_to": {"zip": "1234"}, "tags": ["abcd"]}')
        rc, out, err = self.crater("--schema", main, good, bad)
        self.assertEqual(rc, 1, err)
        self.assertEqual(out.splitlines(), [
            "%s: valid" % good, "%s: invalid" % bad,
            "  /ship_to/zip: must match the pattern ^[0-9]{5}$ (pattern)",
            "  /tags/0: must have at most 3 characters (maxLength)"])

    def test_unknown_ref_exits_2_naming_the_uri_and_the_referring_file(self):
        main = self.write("main.json", '{"properties": {"a": {"$ref": "missing.json"}}}')
        data = self.write("d.json", "{}")
        rc, out, err = self.crater("--schema", main, data)
        self.assertEqual(rc, 2)
        self.assertEqual(out, "")
        self.assertIn("invalid schema at /properties/a: $ref 'missing.json' in file://", err)
        self.assertIn("unknown schema file://", err)
        self.assertIn("/missing.json", err)
        # a URI is never fetched
        net = self.write("net.json", '{"$ref": "https://example.com/never-fetched.json"}')
        rc, _, err = self.crater("--schema", net, data)
        self.assertEqual(rc, 2)
        self.assertIn("unknown schema https://example.com/never-fetched.json", err)

    def test_ref_option_registers_a_schema_by_its_id(self):
        common = self.write("c.json", '{"$id": "https://example.com/c.json", "type": "integer"}')
        main = self.write("m.json", '{"items": {"$ref": "https://example.com/c.json"}}')
        data = self.write("d.json", '[1, "two"]')
        rc, out, err = self.crater("--ref", common, "--schema", main, data)
        self.assertEqual(rc, 1, err)
        self.assertIn("  /1: must be integer (type)", out)

    def test_schemas_checked_against_the_meta_schema(self):
        meta = "https://json-schema.org/draft/2020-12/schema"
        good = self.write("good.schema.json", json.dumps({
            "$id": "https://example.com/tree", "$dynamicAnchor": "node", "type": "object",
            "properties": {"children": {"type": "array", "items": {"$dynamicRef": "#node"}}}}))
        bad = self.write("bad.schema.json", '{"type": 12, "properties": {"a": {"minimum": "x"}}}')
        rc, out, err = self.crater("--schema", meta, good, bad)
        self.assertEqual(rc, 1, err)
        lines = out.splitlines()
        self.assertEqual(lines[0], "%s: valid" % good)
        self.assertEqual(lines[1], "%s: invalid" % bad)
        self.assertIn("  /properties/a/minimum: must be number (type)", lines)
        self.assertIn("  /type: must match at least one schema in anyOf (anyOf)", lines)
        rc, _, err = self.crater("--schema", "https://example.com/unknown", good)
        self.assertEqual(rc, 2)
        self.assertIn("no schema known by that URI", err)


if __name__ == "__main__":
    run()
