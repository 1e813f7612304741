/*
 * libFuzzer target for speech/stt_grammar: the input, split at newlines, is
 * the list of phrases a recogniser's grammar is built from (they come from
 * agents' and flows' settings). Besides the sanitizers it checks that the
 * grammar is plain JSGF: the header, one public rule, and only lower-case
 * letters, apostrophes, bytes of UTF-8 letters, spaces and '|' between.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "speech/stt.h"

#define MAX_PHRASES 256
#define HEAD "#JSGF V1.0;\ngrammar call;\npublic <utterance> = "

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    const char *phrases[MAX_PHRASES];
    size_t n = 0;
    struct buf out = BUF_INIT(1 << 20);
    int kept;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    for (char *p = text; p && n < MAX_PHRASES;) {
        char *nl = strchr(p, '\n');

        if (nl)
            *nl = '\0';
        phrases[n++] = p;
        p = nl ? nl + 1 : NULL;
    }
    kept = stt_grammar_jsgf(phrases, n, NULL, NULL, &out);
    if (kept < 0 || (size_t)kept > n)
        abort();
    if (kept > 0) {
        const char *body = buf_cstr(&out);

        if (strncmp(body, HEAD, strlen(HEAD)) != 0 || out.len < strlen(HEAD) + 2 ||
            strcmp(body + out.len - 2, ";\n") != 0)
            abort();
        for (const char *c = body + strlen(HEAD); c < body + out.len - 2; c++) {
            unsigned char ch = (unsigned char)*c;

            if (!((ch >= 'a' && ch <= 'z') || ch == '\'' || ch == ' ' || ch == '|' || ch >= 0x80 ||
                  (ch >= '0' && ch <= '9')))
                abort();
        }
    } else if (out.len) {
        abort();
    }
    buf_release(&out);
    free(text);
    return 0;
}
