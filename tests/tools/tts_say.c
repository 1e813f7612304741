/*
 * tts-say: speaks each TEXT in LANG and prints how long the speech is, for
 * the synthesis integration tests (run under valgrind, among others).
 *
 *   tts-say [--isolated] LANG TEXT...   in-process espeak-ng, or through the
 *                                       isolated engine with this program's
 *                                       own children
 *   tts-say __tts-worker                a synthesizer child (speech/tts.h)
 *
 * Exits 0 when every text gave audible speech, 1 otherwise, 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "speech/tts.h"

int main(int argc, char **argv)
{
    static const char *const self[] = {"/proc/self/exe", TTS_WORKER_COMMAND, NULL};
    struct tts t = TTS_INIT;
    char err[256] = "";
    int isolated = 0, failed = 0, first = 1;
    int rc;

    if (argc == 2 && strcmp(argv[1], TTS_WORKER_COMMAND) == 0)
        return tts_worker_main(NULL);
    if (argc > 1 && strcmp(argv[1], "--isolated") == 0) {
        isolated = 1;
        first = 2;
    }
    if (argc < first + 2) {
        fprintf(stderr, "usage: tts-say [--isolated] LANG TEXT...\n");
        return 2;
    }
    rc = isolated ? tts_isolated_init(&t, self, 1, 0, err, sizeof(err))
                  : tts_espeak_init(&t, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    for (int i = first + 1; i < argc; i++) {
        int16_t *pcm = NULL;
        size_t n = 0;
        int rate = 0;

        rc = tts_synth(&t, argv[i], argv[first], NULL, &pcm, &n, &rate, err, sizeof(err));
        if (rc || n == 0) {
            fprintf(stderr, "error: %s\n", rc ? err : "no speech");
            failed = 1;
        } else {
            printf("%zu samples at %d Hz\n", n, rate);
        }
        free(pcm);
    }
    tts_release(&t);
    return failed;
}
