/*
 * twiml-dump: builds a TwiML document with core/twiml from a JSON description
 * on stdin and writes it to stdout, so that the oracle tests can compare it
 * with what python3-twilio produces for the same document.
 *
 * The description is a list of nodes under <Response>:
 *
 *   [{"name": "Say", "attrs": {"voice": "alice"}, "text": "Hello",
 *     "children": [...]}]
 *
 * Attribute values are strings; null stands for an attribute that is given
 * without a value (and so is left out, as the helper libraries drop None).
 * A node's text is written before its children. A node with "text" and no
 * "name" is bare text among its siblings, for mixed content such as SSML.
 *
 * Exit status: 0 with the document on stdout; 1 when the builder refuses the
 * document; 2 when the description itself is malformed.
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "core/err.h"
#include "core/twiml.h"

/* More pairs than any element takes, so the builder decides what is too many. */
#define MAX_PAIRS 64

/* Set when the description, not the builder, is at fault. */
static int bad_input;

static int fail_input(const char *what)
{
    fprintf(stderr, "error: description is malformed: %s\n", what);
    bad_input = 1;
    return SB_EINVAL;
}

static int build_nodes(struct twiml *t, json_t *nodes);

static int build_node(struct twiml *t, json_t *node)
{
    const char *attrs[2 * MAX_PAIRS + 1];
    json_t *name, *jattrs, *text, *children, *value;
    const char *key;
    size_t n = 0;
    int rc;

    if (!json_is_object(node))
        return fail_input("a node is not an object");
    name = json_object_get(node, "name");
    jattrs = json_object_get(node, "attrs");
    text = json_object_get(node, "text");
    children = json_object_get(node, "children");
    if (text && !json_is_string(text))
        return fail_input("\"text\" is not a string");
    if (!name) {
        if (!text || jattrs || children)
            return fail_input("a node without \"name\" must hold only \"text\"");
        return twiml_text(t, json_string_value(text));
    }
    if (!json_is_string(name))
        return fail_input("\"name\" is not a string");
    if (jattrs && !json_is_object(jattrs))
        return fail_input("\"attrs\" is not an object");
    if (children && !json_is_array(children))
        return fail_input("\"children\" is not a list");
    json_object_foreach(jattrs, key, value)
    {
        if (n == MAX_PAIRS)
            return fail_input("too many attributes");
        if (!json_is_string(value) && !json_is_null(value))
            return fail_input("an attribute value is not a string");
        attrs[2 * n] = key;
        attrs[2 * n + 1] = json_string_value(value);
        n++;
    }
    attrs[2 * n] = NULL;
    rc = twiml_open(t, json_string_value(name), attrs);
    if (!rc && text)
        rc = twiml_text(t, json_string_value(text));
    if (!rc && children)
        rc = build_nodes(t, children);
    if (!rc)
        rc = twiml_close(t);
    return rc;
}

static int build_nodes(struct twiml *t, json_t *nodes)
{
    size_t i;
    json_t *node;
    int rc;

    json_array_foreach(nodes, i, node)
    {
        rc = build_node(t, node);
        if (rc)
            return rc;
    }
    return 0;
}

int main(void)
{
    struct twiml t;
    json_error_t jerr;
    json_t *root = NULL;
    char *doc = NULL;
    size_t len = 0;
    int status = 0;
    int rc;

    twiml_init(&t);
    root = json_loadf(stdin, 0, &jerr);
    if (!root) {
        fprintf(stderr, "error: description is not JSON: %s (line %d)\n", jerr.text, jerr.line);
        status = 2;
        twiml_release(&t);
        goto out;
    }
    if (!json_is_array(root)) {
        fail_input("the top level is not a list");
        status = 2;
        twiml_release(&t);
        goto out;
    }
    rc = build_nodes(&t, root);
    if (bad_input) {
        status = 2;
        twiml_release(&t);
        goto out;
    }
    if (!rc)
        rc = twiml_finish(&t, &doc, &len);
    else
        twiml_release(&t);
    if (rc) {
        fprintf(stderr, "error: document refused: %s\n", sb_strerror(rc));
        status = 1;
        goto out;
    }
    if (fwrite(doc, 1, len, stdout) != len || fflush(stdout) != 0) {
        fprintf(stderr, "error: cannot write the document\n");
        status = 2;
    }
out:
    free(doc);
    json_decref(root);
    return status;
}
