/*
 * libFuzzer target for the parsers of switchboard sim llm: the input is
 * read both as a --script file and as a chat request body. Besides the
 * sanitizers it checks that a refusal says why and leaves nothing behind,
 * and that an accepted request chooses a reply without failing.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/llm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sim_llm_script script = SIM_LLM_SCRIPT_INIT;
    char err[256] = "";
    int rc = sim_llm_script_parse(&script, (const char *)data, size, err, sizeof(err));

    struct sim_llm_request req;
    struct sim_llm_answer ans;
    char param[64] = "";

    if (rc != 0 && (err[0] == '\0' || script.count != 0))
        abort();
    memset(&req, 0, sizeof(req));
    err[0] = '\0';
    if (sim_llm_request_parse(&req, (const char *)data, size, err, sizeof(err), param,
                              sizeof(param)) == 0) {
        memset(&ans, 0, sizeof(ans));
        if (sim_llm_choose(rc == 0 ? &script : NULL, &req, &ans) != 0)
            abort();
        sim_llm_answer_release(&ans);
    } else if (err[0] == '\0' || req.model || req.subject) {
        abort();
    }
    sim_llm_request_release(&req);
    sim_llm_script_release(&script);
    return 0;
}
