#include "sim/doc.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "core/err.h"
#include "core/twiml.h"
#include "core/banned.h"

#define PROBLEM_PARSE 12100
#define PROBLEM_SCHEMA 12200

/*
 * The arena: a chain of blocks carved front to back and freed together, so
 * that a document of a few hundred nodes costs a handful of mallocs and one
 * walk to free.
 */
#define ARENA_BLOCK 4096

struct arena_block {
    struct arena_block *next;
    size_t used;
    size_t cap;
    max_align_t data[]; /* max_align_t keeps every carve suitably aligned */
};

struct parse {
    struct sim_doc *doc;
    struct arena_block *arena;
    xmlDocPtr xdoc;
    /* The first error libxml2 reports; later ones tend to be its echoes. */
    int error_seen;
    int error_line;
    char error[160];
};

static void *arena_alloc(struct arena_block **head, size_t n)
{
    const size_t align = _Alignof(max_align_t);
    struct arena_block *b = *head;
    size_t cap;
    void *p;

    if (n == 0)
        n = 1;
    if (n > SIZE_MAX - align)
        return NULL;
    n = (n + align - 1) / align * align;
    if (!b || b->cap - b->used < n) {
        cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        b = malloc(sizeof(*b) + cap);
        if (!b)
            return NULL;
        b->next = *head;
        b->used = 0;
        b->cap = cap;
        *head = b;
    }
    p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

static char *arena_strndup(struct arena_block **head, const char *s, size_t n)
{
    char *p = arena_alloc(head, n + 1);

    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static void arena_free(struct arena_block *b)
{
    struct arena_block *next;

    while (b) {
        next = b->next;
        free(b);
        b = next;
    }
}

static void add_problem(struct sim_doc *doc, int code, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Problems past SIM_DOC_MAX_PROBLEMS are dropped: the first ones matter most. */
static void add_problem(struct sim_doc *doc, int code, int line, const char *fmt, ...)
{
    struct sim_problem *pr;
    va_list ap;

    if (doc->nproblems == SIM_DOC_MAX_PROBLEMS)
        return;
    pr = &doc->problems[doc->nproblems++];
    pr->code = code;
    pr->line = line;
    va_start(ap, fmt);
    vsnprintf(pr->message, sizeof(pr->message), fmt, ap);
    va_end(ap);
}

/*
 * libxml2's structured error callback. It is installed on the parser
 * context alone, so concurrent parses never see each other's errors and
 * nothing is printed to stderr.
 */
static void on_xml_error(void *data, xmlErrorPtr err)
{
    xmlParserCtxtPtr ctxt = data;
    struct parse *p = ctxt ? ctxt->_private : NULL;
    size_t n;

    if (!p || !err || err->level < XML_ERR_ERROR || p->error_seen)
        return;
    p->error_seen = 1;
    p->error_line = err->line;
    snprintf(p->error, sizeof(p->error), "%s", err->message ? err->message : "malformed xml");
    /* libxml2 ends its messages with a newline and starts them upper-case. */
    n = strlen(p->error);
    while (n > 0 && (p->error[n - 1] == '\n' || p->error[n - 1] == ' '))
        p->error[--n] = '\0';
    if (p->error[0] >= 'A' && p->error[0] <= 'Z' && !(p->error[1] >= 'A' && p->error[1] <= 'Z'))
        p->error[0] = (char)(p->error[0] - 'A' + 'a');
}

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

/* libxml2 wants one initialisation before threads parse concurrently. */
static void xml_init_once(void)
{
    xmlInitParser();
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Twilio refuses a document whose XML declaration is not at its very start
 * (a blank line left by a template is the usual cause). libxml2 says so too,
 * in words that do not point at the whitespace; this says it plainly.
 */
static int leading_space(struct sim_doc *doc, const char *xml, size_t len)
{
    size_t i = 0;
    int line = 1;

    if (len >= 3 && memcmp(xml, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    if (i == len || !is_space(xml[i]))
        return 0;
    while (i < len && is_space(xml[i])) {
        if (xml[i] == '\n')
            line++;
        i++;
    }
    if (len - i < 5 || memcmp(xml + i, "<?xml", 5) != 0)
        return 0;
    add_problem(doc, PROBLEM_PARSE, line,
                "whitespace before the xml declaration (it must be the first thing in the "
                "document)");
    return 1;
}

/* "prefix:local" for a namespaced name, "local" otherwise; NULL when out of memory. */
static const char *qname(struct parse *p, const xmlNs *ns, const xmlChar *local)
{
    const char *name = (const char *)local;
    const char *prefix = ns && ns->prefix ? (const char *)ns->prefix : NULL;
    size_t pl, nl;
    char *q;

    if (!prefix)
        return arena_strndup(&p->arena, name, strlen(name));
    pl = strlen(prefix);
    nl = strlen(name);
    q = arena_alloc(&p->arena, pl + 1 + nl + 1);
    if (!q)
        return NULL;
    memcpy(q, prefix, pl);
    q[pl] = ':';
    memcpy(q + pl + 1, name, nl + 1);
    return q;
}

/*
 * The element's own text: its text and CDATA children joined, then trimmed.
 * Text inside child elements (SSML inside <Say>) belongs to those children.
 */
static int node_text(struct parse *p, xmlNodePtr x, const char **out)
{
    size_t total = 0, n, start, end;
    xmlNodePtr c;
    char *t;

    *out = "";
    for (c = x->children; c; c = c->next) {
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
            total += strlen((const char *)c->content);
    }
    if (total == 0)
        return 0;
    t = arena_alloc(&p->arena, total + 1);
    if (!t)
        return SB_ENOMEM;
    n = 0;
    for (c = x->children; c; c = c->next) {
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content) {
            size_t l = strlen((const char *)c->content);

            memcpy(t + n, c->content, l);
            n += l;
        }
    }
    start = 0;
    end = n;
    while (start < end && is_space(t[start]))
        start++;
    while (end > start && is_space(t[end - 1]))
        end--;
    t[end] = '\0';
    *out = t + start;
    return 0;
}

static int node_line(xmlNodePtr x)
{
    long line = xmlGetLineNo(x);

    return line > 0 && line <= INT_MAX ? (int)line : 0;
}

static int build_attrs(struct parse *p, xmlNodePtr x, const char *parent, struct sim_node *out)
{
    size_t count = 0;
    xmlAttrPtr a;
    const char *name;
    xmlChar *value;
    int rc = 0;

    for (a = x->properties; a; a = a->next)
        count++;
    if (count == 0)
        return 0;
    out->attrs = arena_alloc(&p->arena, count * sizeof(*out->attrs));
    if (!out->attrs)
        return SB_ENOMEM;
    for (a = x->properties; a && !rc; a = a->next) {
        name = qname(p, a->ns, a->name);
        if (!name) {
            rc = SB_ENOMEM;
            break;
        }
        /* Unknown attributes are reported and left out: Twilio ignores them. */
        if (!twiml_schema_attr(parent, out->name, name)) {
            add_problem(p->doc, PROBLEM_SCHEMA, node_line(x), "unknown attribute '%s' on <%s>",
                        name, out->name);
            continue;
        }
        value = xmlNodeListGetString(p->xdoc, a->children, 1);
        out->attrs[out->nattrs].name = name;
        out->attrs[out->nattrs].value = arena_strndup(&p->arena, value ? (const char *)value : "",
                                                      value ? strlen((const char *)value) : 0);
        xmlFree(value);
        if (!out->attrs[out->nattrs].value)
            rc = SB_ENOMEM;
        else
            out->nattrs++;
    }
    return rc;
}

/*
 * Copies element `x`, which the grammar allows inside `parent`, into `out`,
 * and its allowed children recursively. What the grammar does not allow is
 * reported as a 12200 warning and left out of the tree, so an executor only
 * ever meets elements and attributes it knows.
 */
static int build(struct parse *p, xmlNodePtr x, const char *parent, struct sim_node *out)
{
    const char *name, *suggest;
    xmlNodePtr c;
    size_t count = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    out->text = "";
    out->line = node_line(x);
    out->name = qname(p, x->ns, x->name);
    if (!out->name)
        return SB_ENOMEM;
    rc = build_attrs(p, x, parent, out);
    if (rc)
        return rc;
    rc = node_text(p, x, &out->text);
    if (rc)
        return rc;
    if (*out->text && !twiml_schema_text(parent, out->name)) {
        add_problem(p->doc, PROBLEM_SCHEMA, out->line, "<%s> does not take text", out->name);
        out->text = "";
    }

    for (c = x->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE)
            count++;
    }
    if (count == 0)
        return 0;
    out->children = arena_alloc(&p->arena, count * sizeof(*out->children));
    if (!out->children)
        return SB_ENOMEM;
    for (c = x->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        name = qname(p, c->ns, c->name);
        if (!name)
            return SB_ENOMEM;
        if (twiml_schema_element(out->name, name)) {
            rc = build(p, c, out->name, &out->children[out->nchildren]);
            if (rc)
                return rc;
            out->nchildren++;
            continue;
        }
        suggest = twiml_schema_suggest(out->name, name);
        if (suggest)
            add_problem(p->doc, PROBLEM_SCHEMA, node_line(c),
                        "unknown element <%s> in <%s> (names are case-sensitive: <%s>)", name,
                        out->name, suggest);
        else
            add_problem(p->doc, PROBLEM_SCHEMA, node_line(c), "unexpected element <%s> in <%s>",
                        name, out->name);
    }
    return 0;
}

int sim_doc_parse(struct sim_doc *doc, const char *xml, size_t len)
{
    struct parse p;
    xmlParserCtxtPtr ctxt = NULL;
    xmlNodePtr root;
    const char *root_name;
    int rc = 0;

    if (!doc)
        return SB_EINVAL;
    memset(doc, 0, sizeof(*doc));
    doc->root.name = "";
    doc->root.text = "";
    memset(&p, 0, sizeof(p));
    p.doc = doc;
    if (!xml || len == 0) {
        add_problem(doc, PROBLEM_PARSE, 0, "empty document");
        rc = SB_EPARSE;
        goto out;
    }
    if (len > INT_MAX) {
        add_problem(doc, PROBLEM_PARSE, 0, "document too large");
        rc = SB_EPARSE;
        goto out;
    }
    if (leading_space(doc, xml, len)) {
        rc = SB_EPARSE;
        goto out;
    }
    pthread_once(&xml_once, xml_init_once);
    /* libxml2 2.9 often carries on after running out of memory: its last error tells. */
    xmlResetLastError();
    ctxt = xmlNewParserCtxt();
    if (!ctxt) {
        rc = SB_ENOMEM;
        goto out;
    }
    ctxt->_private = &p;
    ctxt->sax->serror = on_xml_error;
    /*
     * No network and no entity substitution (a document can neither reach
     * out nor blow up); CDATA reads as text; line numbers past 65535 stay
     * right. Errors go to on_xml_error only.
     */
    p.xdoc = xmlCtxtReadMemory(ctxt, xml, (int)len, NULL, NULL,
                               XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_BIG_LINES |
                                   XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!p.xdoc || !ctxt->wellFormed) {
        if (p.error_seen)
            add_problem(doc, PROBLEM_PARSE, p.error_line, "not well-formed xml: %s", p.error);
        else
            add_problem(doc, PROBLEM_PARSE, 0, "not well-formed xml");
        rc = SB_EPARSE;
        goto out;
    }
    root = xmlDocGetRootElement(p.xdoc);
    if (!root) {
        add_problem(doc, PROBLEM_PARSE, 0, "no root element");
        rc = SB_EPARSE;
        goto out;
    }
    root_name = qname(&p, root->ns, root->name);
    if (!root_name) {
        rc = SB_ENOMEM;
        goto out;
    }
    if (!twiml_schema_element(NULL, root_name)) {
        add_problem(doc, PROBLEM_PARSE, node_line(root), "root element is <%s>, not <Response>",
                    root_name);
        rc = SB_EPARSE;
        goto out;
    }
    rc = build(&p, root, NULL, &doc->root);
    if (rc == 0 && xmlGetLastError() && xmlGetLastError()->code == XML_ERR_NO_MEMORY)
        rc = SB_ENOMEM;
out:
    if (p.xdoc)
        xmlFreeDoc(p.xdoc);
    if (ctxt)
        xmlFreeParserCtxt(ctxt);
    doc->arena = p.arena;
    return rc;
}

const char *sim_node_attr(const struct sim_node *n, const char *name)
{
    size_t i;

    if (!n || !name)
        return NULL;
    for (i = 0; i < n->nattrs; i++) {
        if (strcmp(n->attrs[i].name, name) == 0)
            return n->attrs[i].value;
    }
    return NULL;
}

void sim_doc_release(struct sim_doc *doc)
{
    if (!doc)
        return;
    arena_free(doc->arena);
    memset(doc, 0, sizeof(*doc));
}
