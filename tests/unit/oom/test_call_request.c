/* voice/call_request.c, the HTTP API's JSON body, through every failing allocation. */
#include <criterion/criterion.h>

#include <string.h>

#include "core/err.h"
#include "oom.h"
#include "voice/call_request.h"

static void setup(void)
{
    oom_route_jansson();
}

TestSuite(oom_call_request, .init = setup);

struct request_case {
    const char *body;
    struct call_request want;
};

static int run_request(void *ctx)
{
    struct request_case *c = ctx;
    struct call_request req;
    const char *field = NULL;
    char err[CALL_ERROR_SIZE];
    int rc = call_request_parse(c->body, strlen(c->body), &req, &field, err, sizeof(err));

    /* A failed allocation makes jansson give up: the body reads as not JSON (SB_EPARSE). */
    if (rc == 0 && memcmp(&req, &c->want, sizeof(req)) != 0)
        return OOM_WRONG;
    return rc;
}

static void drive(const char *label, const char *body)
{
    struct request_case c;
    const char *field;
    char err[CALL_ERROR_SIZE];

    memset(&c, 0, sizeof(c));
    c.body = body;
    cr_assert_eq(call_request_parse(body, strlen(body), &c.want, &field, err, sizeof(err)), 0, "%s",
                 err);
    oom_drive(label, run_request, &c, NULL);
}

Test(oom_call_request, bodies)
{
    drive("call_request_parse say",
          "{\"to\": \"+15551234567\", \"say\": \"\xc2\xbfHola {{name}}?\", \"name\": "
          "\"Jos\xc3\xa9 N\xc3\xba\xc3\xb1"
          "ez\", \"lang\": \"es-MX\", \"retries\": 2, \"amd\": true, \"sms_fallback\": false, "
          "\"at\": \"2027-03-01T09:30\", \"from\": null}");
    drive("call_request_parse flow", "{\"to\": \"+15551234567\", \"flow\": \"desk\"}");
}
