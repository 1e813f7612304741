#include "core/stream_token.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

#include "core/err.h"
#include "core/banned.h"

/* Domain separation: neither HMAC can be mistaken for another use of the same secret. */
static const char KEY_LABEL[] = "switchboard stream-token key v1";
static const char TOKEN_LABEL[] = "switchboard stream-token v1:";

/* A CallSid is 34 characters; anything much longer is not one. */
#define CALL_SID_MAX 64

/* An HMAC-SHA256 keyed with the derived key, for stream_token_for to copy. */
static EVP_MAC_CTX *keyed_mac(const unsigned char *bytes)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[2];

    /* The context holds its own reference to the algorithm. */
    EVP_MAC_free(mac);
    if (!ctx)
        return NULL;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!EVP_MAC_init(ctx, bytes, STREAM_TOKEN_KEY_BYTES, params)) {
        EVP_MAC_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int stream_token_key_init(struct stream_token_key *key, const char *secret, const char *auth_token)
{
    const char *from;
    unsigned int n = 0;

    if (!key)
        return SB_EINVAL;
    memset(key, 0, sizeof(*key));
    if (!secret || !auth_token)
        return SB_EINVAL;
    from = *secret ? secret : auth_token;
    if (!HMAC(EVP_sha256(), from, (int)strlen(from), (const unsigned char *)KEY_LABEL,
              sizeof(KEY_LABEL) - 1, key->bytes, &n) ||
        n != STREAM_TOKEN_KEY_BYTES || !(key->keyed = keyed_mac(key->bytes))) {
        /* OpenSSL's error stays queued otherwise, for this thread's next TLS call to misread. */
        ERR_clear_error();
        stream_token_key_clear(key);
        return SB_EIO;
    }
    key->ready = 1;
    return 0;
}

void stream_token_key_clear(struct stream_token_key *key)
{
    if (!key)
        return;
    EVP_MAC_CTX_free(key->keyed);
    OPENSSL_cleanse(key, sizeof(*key));
}

int stream_token_for(const struct stream_token_key *key, const char *call_sid,
                     char out[STREAM_TOKEN_SIZE])
{
    unsigned char msg[sizeof(TOKEN_LABEL) - 1 + CALL_SID_MAX];
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t n = 0, sid_len;
    EVP_MAC_CTX *ctx;
    int ok;

    out[0] = '\0';
    if (!key || !key->ready || !call_sid || !*call_sid)
        return SB_EINVAL;
    sid_len = strnlen(call_sid, CALL_SID_MAX + 1);
    if (sid_len > CALL_SID_MAX)
        return SB_EINVAL;
    memcpy(msg, TOKEN_LABEL, sizeof(TOKEN_LABEL) - 1);
    memcpy(msg + sizeof(TOKEN_LABEL) - 1, call_sid, sid_len);
    ctx = EVP_MAC_CTX_dup(key->keyed);
    ok = ctx && EVP_MAC_update(ctx, msg, sizeof(TOKEN_LABEL) - 1 + sid_len) &&
         EVP_MAC_final(ctx, mac, &n, sizeof(mac)) && n == 32;
    EVP_MAC_CTX_free(ctx);
    if (!ok) {
        ERR_clear_error();
        return SB_EIO;
    }
    /* 32 bytes encode to 44 characters plus the NUL EVP_EncodeBlock writes. */
    if (EVP_EncodeBlock((unsigned char *)out, mac, (int)n) != STREAM_TOKEN_SIZE - 1) {
        out[0] = '\0';
        return SB_EIO;
    }
    return 0;
}

int stream_token_check(const struct stream_token_key *key, const char *call_sid, const char *token)
{
    char want[STREAM_TOKEN_SIZE];
    int rc;

    if (!key || !key->ready)
        return SB_EINVAL;
    if (!token || !call_sid || !*call_sid)
        return SB_EBADSIG;
    rc = stream_token_for(key, call_sid, want);
    if (rc == SB_EIO)
        return rc;
    /* The length of a token is public (always 44); only its bytes are compared in constant time. */
    if (rc || strlen(token) != STREAM_TOKEN_SIZE - 1 ||
        CRYPTO_memcmp(token, want, STREAM_TOKEN_SIZE - 1) != 0)
        return SB_EBADSIG;
    return 0;
}
