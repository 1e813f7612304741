/*
 * The sim's TwiML reader (sim/doc.c over libxml2) through every failing
 * allocation, libxml2's own included.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xmlerror.h>

#include "core/buf.h"
#include "core/err.h"
#include "oom.h"
#include "sim/doc.h"

static void quiet(void *ctx, const char *fmt, ...)
{
}

static void setup(void)
{
    oom_route_libxml2();
    /*
     * libxml2 reports most of its allocation failures through its generic
     * handler, which prints to stderr (sim/doc.c installs a handler on its
     * parser context only): thousands of lines here.
     */
    xmlSetGenericErrorFunc(NULL, quiet);
}

TestSuite(oom_sim, .init = setup);

/* A Spanish answer, with what Twilio would warn about: an unknown attribute and a misspelt verb. */
static const char spanish_doc[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Response>\n"
    "  <Say voice=\"Polly.Mia\" language=\"es-MX\">¡Hola! Gracias por llamar a la "
    "Peluquería Ñandú.</Say>\n"
    "  <Gather input=\"speech dtmf\" action=\"/voice/gather?step=1&amp;lang=es-MX\" "
    "language=\"es-MX\" timeout=\"5\" colour=\"azul\">\n"
    "    <Say language=\"es-MX\">¿En qué le puedo ayudar? Diga «cita» o pulse 1.</Say>\n"
    "    <play>https://cdn.example.com/música.mp3</play>\n"
    "  </Gather>\n"
    "  <Connect>\n"
    "    <Stream url=\"wss://voice.example.com/media\" track=\"inbound_track\">\n"
    "      <Parameter name=\"tenant\" value=\"Peluquería Ñandú\"/>\n"
    "      <Parameter name=\"saludo\" value=\"¿Qué tal?\"/>\n"
    "      <Parameter name=\"token\" value=\"q83vEjRUVniQq83vEjRUVniQq83vEjRUVniQq83vEjQ=\"/>\n"
    "    </Stream>\n"
    "  </Connect>\n"
    "  <Say><![CDATA[Adiós & hasta luego]]></Say>\n"
    "  <Hangup/>\n"
    "</Response>\n";

/* Everything the parse produced, as text, to compare runs. */
static int dump_node(struct buf *b, const struct sim_node *n, int depth)
{
    int rc = buf_printf(b, "%*s<%s line=%d text=[%s]", depth * 2, "", n->name, n->line, n->text);

    for (size_t i = 0; rc == 0 && i < n->nattrs; i++)
        rc = buf_printf(b, " %s=[%s]", n->attrs[i].name, n->attrs[i].value);
    if (rc == 0)
        rc = buf_putc(b, '\n');
    for (size_t i = 0; rc == 0 && i < n->nchildren; i++)
        rc = dump_node(b, &n->children[i], depth + 1);
    return rc;
}

static char *dump(const struct sim_doc *doc, int rc)
{
    struct buf b = BUF_INIT(1 << 20);

    cr_assert_eq(buf_printf(&b, "rc=%d\n", rc), 0);
    for (size_t i = 0; i < doc->nproblems; i++)
        cr_assert_eq(buf_printf(&b, "%d line %d: %s\n", doc->problems[i].code,
                                doc->problems[i].line, doc->problems[i].message),
                     0);
    if (rc == 0)
        cr_assert_eq(dump_node(&b, &doc->root, 0), 0);
    return buf_detach(&b, NULL);
}

/*
 * libxml2 2.9 goes on after most of its allocation failures with a node or
 * a value missing (xmlSAX2ErrMemory stops the parse without clearing
 * ctxt->wellFormed; an attribute value it could not build comes back NULL).
 * It does raise XML_ERR_NO_MEMORY each time, and sim_doc_parse checks for it:
 * a run that returns a different document while libxml2 reported running out
 * of memory is that check failing, and fails the test.
 */
#define DOC_OOM_BUG                                                                                \
    "sim_doc_parse returned a damaged document as good although libxml2 ran out of memory"
static int doc_bug_hits;

struct doc_case {
    const char *xml;
    size_t len;
    int want;
    char *ref;
};

static int run_doc(void *ctx)
{
    struct doc_case *c = ctx;
    struct sim_doc doc;
    char *got;
    int rc = sim_doc_parse(&doc, c->xml, c->len);

    if (rc == 0 || rc == c->want) {
        /* The same outcome as without failures must mean the same document and problems. */
        oom_pause();
        got = dump(&doc, rc);
        if (strcmp(got, c->ref) != 0 && getenv("OOM_TRACE"))
            fprintf(stderr, "oom: got\n%s\noom: want\n%s\n", got, c->ref);
        if (rc == 0 && strcmp(got, c->ref) != 0 && xmlGetLastError() &&
            xmlGetLastError()->code == XML_ERR_NO_MEMORY) {
            doc_bug_hits++;
        } else if (strcmp(got, c->ref) != 0) {
            rc = rc == 0 ? OOM_WRONG : rc;
        } else if (rc == c->want) {
            rc = 0;
        }
        free(got);
        oom_resume();
    }
    sim_doc_release(&doc);
    /*
     * libxml2 keeps a copy of the last error it raised in the thread's
     * state (strings included) until the next one: bounded, and not the
     * parse's to free.
     */
    xmlResetLastError();
    return rc;
}

static void drive_doc(const char *name, const char *xml, size_t len, int want)
{
    struct doc_case c = {xml, len, want, NULL};
    struct sim_doc doc;
    char label[96];
    int rc = sim_doc_parse(&doc, xml, len);

    cr_assert_eq(rc, want, "%s: %d", name, rc);
    c.ref = dump(&doc, rc);
    sim_doc_release(&doc);
    xmlResetLastError();
    snprintf(label, sizeof(label), "sim_doc_parse %s", name);
    oom_drive(label, run_doc, &c, NULL);
    free(c.ref);
}

/* Fails the test when a damaged document was returned as good (see DOC_OOM_BUG). */
static void fail_on_damaged_document(void)
{
    if (doc_bug_hits) {
        cr_assert_fail("%d runs: %s", doc_bug_hits, DOC_OOM_BUG);
    }
}

Test(oom_sim, spanish_document)
{
    drive_doc("Spanish answer", spanish_doc, sizeof(spanish_doc) - 1, 0);
    fail_on_damaged_document();
}

Test(oom_sim, corpus_documents)
{
    static const char *const files[] = {"dial.xml", "gather.xml", "stream.xml"};

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[512];
        size_t len;
        char *xml;

        snprintf(path, sizeof(path), "%s/fuzz/corpus/doc/%s", OOM_SOURCE_ROOT, files[i]);
        xml = oom_read_file(path, &len);
        drive_doc(files[i], xml, len, 0);
        free(xml);
    }
    fail_on_damaged_document();
}

Test(oom_sim, refused_documents)
{
    static const char not_xml[] = "<Response><Say>¿sin cerrar?</Response>";
    static const char wrong_root[] =
        "<?xml version=\"1.0\"?><Respuesta><Say>Hola</Say></Respuesta>";

    drive_doc("not well-formed", not_xml, sizeof(not_xml) - 1, SB_EPARSE);
    drive_doc("wrong root", wrong_root, sizeof(wrong_root) - 1, SB_EPARSE);
    fail_on_damaged_document();
}
