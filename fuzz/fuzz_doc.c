/*
 * Fuzz target for the sim's TwiML document reader: any bytes must parse or
 * be refused cleanly, and a parsed document must be a <Response> whose
 * problems are all 12100 or 12200 with a bounded count.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/doc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sim_doc doc;
    int rc = sim_doc_parse(&doc, (const char *)data, size);

    if (rc == 0 && strcmp(doc.root.name, "Response") != 0)
        abort();
    if (doc.nproblems > SIM_DOC_MAX_PROBLEMS)
        abort();
    for (size_t i = 0; i < doc.nproblems; i++) {
        if (doc.problems[i].code != 12100 && doc.problems[i].code != 12200)
            abort();
    }
    sim_doc_release(&doc);
    return 0;
}
