/*
 * libFuzzer target for store/agents' knowledge_cut: any bytes as a
 * knowledge file. Besides the sanitizers it checks what search relies on:
 * a refusal leaves nothing, an accepted file gives 1 to
 * KNOWLEDGE_MAX_PASSAGES passages, each non-empty, NUL-terminated within
 * its field, within KNOWLEDGE_PASSAGE_MAX bytes, and valid UTF-8 (so a
 * passage is never cut inside a character).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/agents.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct knowledge_passage *p = NULL;
    size_t n = 99;
    int rc = knowledge_cut((const char *)data, size, &p, &n);

    if (rc != 0) {
        if (p || n != 0)
            abort();
        return 0;
    }
    if (n == 0 || n > KNOWLEDGE_MAX_PASSAGES || !p)
        abort();
    for (size_t i = 0; i < n; i++) {
        size_t len = strnlen(p[i].text, sizeof(p[i].text));

        if (len == 0 || len >= sizeof(p[i].text) || len > KNOWLEDGE_PASSAGE_MAX ||
            strnlen(p[i].heading, sizeof(p[i].heading)) >= sizeof(p[i].heading) ||
            !agent_text_valid(p[i].text, len))
            abort();
    }
    free(p);
    return 0;
}
