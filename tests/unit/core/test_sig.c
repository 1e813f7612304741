/*
 * Tests for core/sig. The vectors come from the test suites of twilio-python
 * and twilio-node and were re-computed with twilio-python's RequestValidator.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "core/err.h"
#include "core/form.h"
#include "core/sig.h"

#define TOKEN "12345"
#define URL "https://mycompany.com/myapp.php?foo=1&bar=2"
#define URL_443 "https://mycompany.com:443/myapp.php?foo=1&bar=2"

/* The parameters shared by the library test suites, in the order a form would carry them. */
static const char P_BODY[] = "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&"
                             "From=%2B14158675309&To=%2B18005551212";

/* V6: the JSON body and its SHA-256. */
static const char JSON_BODY[] = "{\"property\": \"value\", \"boolean\": true}";
#define JSON_SHA "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
#define EMPTY_OBJ_SHA "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static struct form P = FORM_INIT;

static void parse_or_die(struct form *f, const char *text)
{
    int rc = form_parse(f, text, strlen(text));

    cr_assert_eq(rc, 0, "form_parse(%s) = %d", text, rc);
}

static void setup_p(void)
{
    parse_or_die(&P, P_BODY);
}

static void teardown_p(void)
{
    form_release(&P);
}

/* Asserts that sig_compute(TOKEN, url, params) is `expected`. */
static void assert_sig(const char *url, const struct form *params, const char *expected)
{
    char out[SIG_B64_SIZE];
    int rc = sig_compute(TOKEN, url, params, out);

    cr_assert_eq(rc, 0, "sig_compute(%s) = %d", url, rc);
    cr_assert_str_eq(out, expected, "sig_compute(%s)", url);
}

TestSuite(sig, .init = setup_p, .fini = teardown_p);

/* §1.7 V1-V6: the vectors of the helper libraries' own tests. */

Test(sig, v1_compute_no_port)
{
    assert_sig(URL, &P, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
}

Test(sig, v1_validate_no_port)
{
    cr_assert_eq(sig_validate(TOKEN, URL, &P, "RSOYDt4T1cUTdK1PDd93/VVr8B8="), 0);
}

Test(sig, v2_compute_with_443)
{
    assert_sig(URL_443, &P, "kvajT1Ptam85bY51eRf/AJRuM3w=");
}

Test(sig, v2_validates_port_added_signature_against_url_without_port)
{
    /* Twilio may have signed https://host:443/... while we know https://host/... */
    cr_assert_eq(sig_validate(TOKEN, URL, &P, "kvajT1Ptam85bY51eRf/AJRuM3w="), 0);
}

Test(sig, v2_validates_port_removed_signature_against_url_with_443)
{
    cr_assert_eq(sig_validate(TOKEN, URL_443, &P, "RSOYDt4T1cUTdK1PDd93/VVr8B8="), 0);
    cr_assert_eq(sig_validate(TOKEN, URL_443, &P, "kvajT1Ptam85bY51eRf/AJRuM3w="), 0);
}

Test(sig, v3_http_port_80)
{
    const char *url = "http://mycompany.com:80/myapp.php?foo=1&bar=2";

    assert_sig(url, &P, "0ZXoZLH/DfblKGATFgpif+LLRf4=");
    cr_assert_eq(sig_validate(TOKEN, url, &P, "0ZXoZLH/DfblKGATFgpif+LLRf4="), 0);
    /* http adds :80, so the port-less http URL must also accept it. */
    cr_assert_eq(sig_validate(TOKEN, "http://mycompany.com/myapp.php?foo=1&bar=2", &P,
                              "0ZXoZLH/DfblKGATFgpif+LLRf4="),
                 0);
}

Test(sig, v4_nonstandard_port)
{
    const char *url = "http://mycompany.com:1234/myapp.php?foo=1&bar=2";

    assert_sig(url, &P, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=");
    cr_assert_eq(sig_validate(TOKEN, url, &P, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="), 0);
}

Test(sig, v4_nonstandard_port_is_removed_but_never_added)
{
    /* Removing :1234 gives the http URL without a port, which V3's port-less form signs. */
    const char *url = "http://mycompany.com:1234/myapp.php?foo=1&bar=2";
    char plain[SIG_B64_SIZE];

    cr_assert_eq(sig_compute(TOKEN, "http://mycompany.com/myapp.php?foo=1&bar=2", &P, plain), 0);
    cr_assert_eq(sig_validate(TOKEN, url, &P, plain), 0);
    /* A URL without a port only gets :80 added, never :1234. */
    cr_assert_eq(sig_validate(TOKEN, "http://mycompany.com/myapp.php?foo=1&bar=2", &P,
                              "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
                 SB_EBADSIG);
}

Test(sig, v5_repeated_keys_are_sorted_and_deduplicated)
{
    struct form f = FORM_INIT;

    parse_or_die(&f, "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234");
    assert_sig(URL, &f, "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    cr_assert_eq(sig_validate(TOKEN, URL, &f, "IK+Dwps556ElfBT0I3Rgjkr1wJU="), 0);
    form_release(&f);
}

Test(sig, v5_order_of_fields_does_not_matter)
{
    struct form f = FORM_INIT;

    parse_or_die(&f, "Digits=1234&SidAccount=AC123&Digits=1234&Sid=CA123&Digits=5678");
    assert_sig(URL, &f, "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    form_release(&f);
}

Test(sig, v5_string_to_sign)
{
    /*
     * The string the libraries sign is
     * URL + "Digits1234Digits5678SidCA123SidAccountAC123"; signing it as a
     * bare URL with no parameters must give the same digest.
     */
    assert_sig(URL "Digits1234Digits5678SidCA123SidAccountAC123", NULL,
               "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
}

Test(sig, v1_string_to_sign)
{
    assert_sig(URL "CallSidCA1234567890ABCDECaller+14158675309Digits1234From+14158675309To+"
                   "18005551212",
               NULL, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
}

Test(sig, v6_json_body)
{
    const char *url = URL "&bodySHA256=" JSON_SHA;

    assert_sig(url, NULL, "a9nBmqA0ju/hNViExpshrM61xv4=");
    cr_assert_eq(
        sig_validate_body(TOKEN, url, JSON_BODY, strlen(JSON_BODY), "a9nBmqA0ju/hNViExpshrM61xv4="),
        0);
}

Test(sig, v6_json_body_changed_is_refused)
{
    const char *url = URL "&bodySHA256=" JSON_SHA;
    const char body[] = "{\"property\": \"value\", \"boolean\": false}";

    cr_assert_eq(sig_validate_body(TOKEN, url, body, strlen(body), "a9nBmqA0ju/hNViExpshrM61xv4="),
                 SB_EBADSIG);
}

Test(sig, v6_json_body_one_byte_short_is_refused)
{
    const char *url = URL "&bodySHA256=" JSON_SHA;

    cr_assert_eq(sig_validate_body(TOKEN, url, JSON_BODY, strlen(JSON_BODY) - 1,
                                   "a9nBmqA0ju/hNViExpshrM61xv4="),
                 SB_EBADSIG);
}

Test(sig, v6_json_body_wrong_signature_is_refused)
{
    const char *url = URL "&bodySHA256=" JSON_SHA;

    cr_assert_eq(
        sig_validate_body(TOKEN, url, JSON_BODY, strlen(JSON_BODY), "a9nBmqA0ju/hNViExpshrM61xv5="),
        SB_EBADSIG);
}

/* The node-only vectors of §1.7. */

Test(sig, node_userinfo_with_password)
{
    const char *url = "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2";

    assert_sig(url, &P, "CukzLTc1tT5dXEDIHm/tKBanW10=");
    cr_assert_eq(sig_validate(TOKEN, url, &P, "CukzLTc1tT5dXEDIHm/tKBanW10="), 0);
}

Test(sig, node_userinfo_with_443_added)
{
    const char *url = "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2";

    assert_sig("https://user:pass@mycompany.com:443/myapp.php?foo=1&bar=2", &P,
               "ZQFR1PTIZXF2MXB8ZnKCvnnA+rI=");
    /* The :443 goes after the host, not after the userinfo's colon. */
    cr_assert_eq(sig_validate(TOKEN, url, &P, "ZQFR1PTIZXF2MXB8ZnKCvnnA+rI="), 0);
}

Test(sig, node_userinfo_without_password)
{
    const char *url = "https://user@mycompany.com/myapp.php?foo=1&bar=2";

    assert_sig(url, &P, "2YRLlVAflCqxaNicjMpJcSTgzSs=");
    cr_assert_eq(sig_validate(TOKEN, url, &P, "2YRLlVAflCqxaNicjMpJcSTgzSs="), 0);
}

Test(sig, userinfo_is_kept_when_the_port_is_removed)
{
    /* Removing :8443 must give the userinfo URL without a port (CukzL... above). */
    cr_assert_eq(sig_validate(TOKEN, "https://user:pass@mycompany.com:8443/myapp.php?foo=1&bar=2",
                              &P, "CukzLTc1tT5dXEDIHm/tKBanW10="),
                 0);
    cr_assert_eq(sig_validate(TOKEN, "https://user:pass@mycompany.com:8443/myapp.php?foo=1&bar=2",
                              &P, "292bGZgKjW2foPZTgsYWAbygT7o="),
                 0);
}

Test(sig, node_body_in_query_percent_encoded)
{
    /*
     * node signs "&Body=It's+amazing" through its legacy querystring variant,
     * which percent-encodes the quote; the URL as sent carries %27.
     */
    assert_sig(URL "&Body=It%27s+amazing", &P, "TfZzewPq8wqrGlMfyAud8+/IvJ0=");
    cr_assert_eq(
        sig_validate(TOKEN, URL "&Body=It%27s+amazing", &P, "TfZzewPq8wqrGlMfyAud8+/IvJ0="), 0);
}

Test(sig, node_array_values_in_any_order)
{
    struct form a = FORM_INIT, b = FORM_INIT;

    parse_or_die(&a,
                 "MessagingBinding.Address=%2B1325xxxxxxx&MessagingBinding.Address=%2B1415xxxxxxx");
    parse_or_die(&b,
                 "MessagingBinding.Address=%2B1415xxxxxxx&MessagingBinding.Address=%2B1325xxxxxxx");
    assert_sig(URL, &a, "83O6e2vORAoJHUNzJjDWN1jz+BA=");
    assert_sig(URL, &b, "83O6e2vORAoJHUNzJjDWN1jz+BA=");
    form_release(&a);
    form_release(&b);
}

Test(sig, node_empty_json_body_matches_only_the_443_variant)
{
    const char *url = URL "&bodySHA256=" EMPTY_OBJ_SHA;

    assert_sig(URL_443 "&bodySHA256=" EMPTY_OBJ_SHA, NULL, "Ldidvp12m26NI7eqEvxnEpkd9Hc=");
    assert_sig(url, NULL, "rw/jVviOgicj2+kHZULvebnA4ag=");
    cr_assert_eq(sig_validate_body(TOKEN, url, "{}", 2, "Ldidvp12m26NI7eqEvxnEpkd9Hc="), 0);
    cr_assert_eq(sig_validate_body(TOKEN, url, "{}", 2, "rw/jVviOgicj2+kHZULvebnA4ag="), 0);
}

Test(sig, node_only_sha_param)
{
    const char *url = "https://mycompany.com/myapp.php?bodySHA256=" JSON_SHA;

    assert_sig(url, NULL, "y77kIzt2vzLz71DgmJGsen2scGs=");
    assert_sig("https://mycompany.com:443/myapp.php?bodySHA256=" JSON_SHA, NULL,
               "DvyhxKdj6iwN6iLOt+UHx5yLUaw=");
    cr_assert_eq(
        sig_validate_body(TOKEN, url, JSON_BODY, strlen(JSON_BODY), "y77kIzt2vzLz71DgmJGsen2scGs="),
        0);
    cr_assert_eq(
        sig_validate_body(TOKEN, url, JSON_BODY, strlen(JSON_BODY), "DvyhxKdj6iwN6iLOt+UHx5yLUaw="),
        0);
}

Test(sig, get_example_signs_query_verbatim)
{
    const char *url = "https://mycompany.com/voice?CallSid=CA1&From=%2B14158675309";

    assert_sig(url, NULL, "UNY+IBFrptKV3XdDGx54FjDxT1U=");
    cr_assert_eq(sig_validate(TOKEN, url, NULL, "UNY+IBFrptKV3XdDGx54FjDxT1U="), 0);
    /* Decoding %2B in the URL changes what is signed. */
    cr_assert_eq(sig_validate(TOKEN, "https://mycompany.com/voice?CallSid=CA1&From=+14158675309",
                              NULL, "UNY+IBFrptKV3XdDGx54FjDxT1U="),
                 SB_EBADSIG);
}

Test(sig, empty_form_signs_like_null)
{
    struct form empty = FORM_INIT;

    assert_sig("https://mycompany.com/voice?CallSid=CA1&From=%2B14158675309", &empty,
               "UNY+IBFrptKV3XdDGx54FjDxT1U=");
}

/* Tampering. */

Test(sig, tampered_param_value_is_refused)
{
    struct form f = FORM_INIT;

    parse_or_die(&f, "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1235&"
                     "From=%2B14158675309&To=%2B18005551212");
    cr_assert_eq(sig_validate(TOKEN, URL, &f, "RSOYDt4T1cUTdK1PDd93/VVr8B8="), SB_EBADSIG);
    form_release(&f);
}

Test(sig, extra_param_is_refused)
{
    struct form f = FORM_INIT;

    parse_or_die(&f, "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&"
                     "From=%2B14158675309&To=%2B18005551212&X=1");
    cr_assert_eq(sig_validate(TOKEN, URL, &f, "RSOYDt4T1cUTdK1PDd93/VVr8B8="), SB_EBADSIG);
    form_release(&f);
}

Test(sig, key_value_boundary_is_not_signed)
{
    /*
     * Keys and values are concatenated without separators, exactly as the
     * helper libraries do, so "Digits"+"1234" and "Digits1"+"234" sign alike.
     * A separator here would make every real Twilio signature fail.
     */
    struct form f = FORM_INIT;

    parse_or_die(&f, "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits1=234&"
                     "From=%2B14158675309&To=%2B18005551212");
    cr_assert_eq(sig_validate(TOKEN, URL, &f, "RSOYDt4T1cUTdK1PDd93/VVr8B8="), 0);
    form_release(&f);
}

Test(sig, tampered_url_is_refused)
{
    cr_assert_eq(sig_validate(TOKEN, "https://mycompany.com/myapp.php?foo=1&bar=3", &P,
                              "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
                 SB_EBADSIG);
    cr_assert_eq(sig_validate(TOKEN, "http://mycompany.com/myapp.php?foo=1&bar=2", &P,
                              "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
                 SB_EBADSIG);
    cr_assert_eq(sig_validate(TOKEN, "https://mycompany.com:8443/myapp.php?foo=1&bar=2", &P,
                              "kvajT1Ptam85bY51eRf/AJRuM3w="),
                 SB_EBADSIG);
}

Test(sig, wrong_token_is_refused)
{
    cr_assert_eq(sig_validate("12346", URL, &P, "RSOYDt4T1cUTdK1PDd93/VVr8B8="), SB_EBADSIG);
}

Test(sig, every_single_character_change_of_the_signature_is_refused)
{
    char sig[] = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
    size_t i;

    for (i = 0; i < strlen(sig); i++) {
        char saved = sig[i];

        sig[i] = saved == 'A' ? 'B' : 'A';
        cr_assert_eq(sig_validate(TOKEN, URL, &P, sig), SB_EBADSIG, "position %zu", i);
        sig[i] = saved;
    }
    cr_assert_eq(sig_validate(TOKEN, URL, &P, sig), 0);
}

Test(sig, truncated_or_extended_signature_is_refused)
{
    cr_assert_eq(sig_validate(TOKEN, URL, &P, "RSOYDt4T1cUTdK1PDd93/VVr8B8"), SB_EBADSIG);
    cr_assert_eq(sig_validate(TOKEN, URL, &P, "RSOYDt4T1cUTdK1PDd93/VVr8B8=="), SB_EBADSIG);
    cr_assert_eq(sig_validate(TOKEN, URL, &P, "RSOYDt4T1cUTdK1PDd93/VVr8B8= "), SB_EBADSIG);
}

Test(sig, null_or_empty_header_is_badsig)
{
    cr_assert_eq(sig_validate(TOKEN, URL, &P, NULL), SB_EBADSIG);
    cr_assert_eq(sig_validate(TOKEN, URL, &P, ""), SB_EBADSIG);
    cr_assert_eq(
        sig_validate_body(TOKEN, URL "&bodySHA256=" JSON_SHA, JSON_BODY, strlen(JSON_BODY), NULL),
        SB_EBADSIG);
}

/* Port variants. */

Test(sig, wss_defaults_to_443_and_ws_to_80)
{
    /* Signatures of the explicit-port URLs, computed with python's helper. */
    cr_assert_eq(
        sig_validate(TOKEN, "wss://mycompany.com/media", NULL, "y/eZxfvMeXBmejSJYHDm4y/cRMk="), 0);
    cr_assert_eq(
        sig_validate(TOKEN, "ws://mycompany.com/media", NULL, "QIL+i/YHWneXySQVmQqkp4hiG4I="), 0);
    cr_assert_eq(
        sig_validate(TOKEN, "wss://mycompany.com:443/media", NULL, "okykUWKkAOgQseVjzERZh4soLeU="),
        0);
    cr_assert_eq(
        sig_validate(TOKEN, "ws://mycompany.com:80/media", NULL, "LAKN2iOGj6Ydy+FhGxgUuCvGu34="),
        0);
    /* wss must not get :80. */
    cr_assert_eq(
        sig_validate(TOKEN, "wss://mycompany.com/media", NULL, "QIL+i/YHWneXySQVmQqkp4hiG4I="),
        SB_EBADSIG);
}

Test(sig, ipv6_literal_with_port)
{
    /* njKB... signs [::1]:8080, fHe4... signs [::1] (the port removed). */
    const char *url = "http://[::1]:8080/voice?x=1";

    assert_sig(url, NULL, "njKBUDQeoj+hKJzPiVmlT2aFyHw=");
    cr_assert_eq(sig_validate(TOKEN, url, NULL, "njKBUDQeoj+hKJzPiVmlT2aFyHw="), 0);
    cr_assert_eq(sig_validate(TOKEN, url, NULL, "fHe4eG7rJKnJVebHA6/sA933k8A="), 0);
    cr_assert_eq(sig_validate(TOKEN, url, NULL, "9+0aVw3gZ+R1GewcUTg/KFe+8Uo="), SB_EBADSIG);
}

Test(sig, ipv6_literal_without_port_gets_80)
{
    const char *url = "http://[::1]/voice?x=1";

    cr_assert_eq(sig_validate(TOKEN, url, NULL, "fHe4eG7rJKnJVebHA6/sA933k8A="), 0);
    cr_assert_eq(sig_validate(TOKEN, url, NULL, "9+0aVw3gZ+R1GewcUTg/KFe+8Uo="), 0);
    cr_assert_eq(sig_validate(TOKEN, url, NULL, "njKBUDQeoj+hKJzPiVmlT2aFyHw="), SB_EBADSIG);
}

Test(sig, python_port_examples)
{
    /* remove_port strips :8443; add_port leaves it alone. */
    cr_assert_eq(sig_validate(TOKEN, "https://mycompany.com:8443/a?x=1", NULL,
                              "E+OoSOGMfNcyYgzo28Cp0XhGRkA="),
                 0);
    cr_assert_eq(sig_validate(TOKEN, "https://mycompany.com:8443/a?x=1", NULL,
                              "1tJAOFacwL4XflR6DpPHOKygBtc="),
                 0);
}

Test(sig, scheme_is_compared_in_lower_case_like_urllib)
{
    cr_assert_eq(sig_validate(TOKEN, "HTTPS://mycompany.com/myapp.php?foo=1&bar=2", &P,
                              "kvajT1Ptam85bY51eRf/AJRuM3w="),
                 0);
    cr_assert_eq(sig_validate(TOKEN, "HTTPS://mycompany.com/myapp.php?foo=1&bar=2", &P,
                              "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
                 0);
}

Test(sig, url_without_path)
{
    char a[SIG_B64_SIZE];

    cr_assert_eq(sig_compute(TOKEN, "https://mycompany.com:443", NULL, a), 0);
    cr_assert_eq(sig_validate(TOKEN, "https://mycompany.com", NULL, a), 0);
    cr_assert_eq(sig_compute(TOKEN, "https://mycompany.com", NULL, a), 0);
    cr_assert_eq(sig_validate(TOKEN, "https://mycompany.com:443", NULL, a), 0);
    cr_assert_eq(sig_compute(TOKEN, "https://mycompany.com:443?x=1", NULL, a), 0);
    cr_assert_eq(sig_validate(TOKEN, "https://mycompany.com?x=1", NULL, a), 0);
}

/* Fragments. */

Test(sig, fragment_is_not_signed)
{
    assert_sig(URL "#rc=2&ct=1000", &P, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    cr_assert_eq(sig_validate(TOKEN, URL "#rc=2", &P, "RSOYDt4T1cUTdK1PDd93/VVr8B8="), 0);
    cr_assert_eq(sig_validate(TOKEN, URL "#", &P, "kvajT1Ptam85bY51eRf/AJRuM3w="), 0);
}

Test(sig, fragment_is_stripped_from_body_urls)
{
    cr_assert_eq(sig_validate_body(TOKEN, URL "&bodySHA256=" JSON_SHA "#rc=2", JSON_BODY,
                                   strlen(JSON_BODY), "a9nBmqA0ju/hNViExpshrM61xv4="),
                 0);
}

Test(sig, fragment_before_query_hides_the_query)
{
    /* Everything after '#' is the fragment, so this URL has no bodySHA256. */
    cr_assert_eq(sig_validate_body(TOKEN, "https://mycompany.com/myapp.php#?bodySHA256=" JSON_SHA,
                                   JSON_BODY, strlen(JSON_BODY), "a9nBmqA0ju/hNViExpshrM61xv4="),
                 SB_EBADSIG);
}

/* Parameters and encodings. */

Test(sig, empty_keys_and_values)
{
    struct form f = FORM_INIT;

    parse_or_die(&f, "=x&a");
    assert_sig("https://mycompany.com/v", &f, "pW+zMHIB7j+NGthyjf3Yt6nPhlw=");
    form_release(&f);
}

Test(sig, utf8_and_reserved_characters_in_values)
{
    struct form f = FORM_INIT;

    parse_or_die(&f, "z=a+b%2Bc%26d%3De%25&%C3%A9=%C3%BC");
    assert_sig("https://mycompany.com/v", &f, "4cfK6KZQV5LSLTsD41TS2tJnNlo=");
    form_release(&f);
}

Test(sig, prefix_key_sorts_first)
{
    /* "Sid" < "SidAccount" in byte order; reversing them would give another digest. */
    struct form a = FORM_INIT;

    parse_or_die(&a, "SidAccount=AC123&Sid=CA123&Digits=1234&Digits=5678");
    assert_sig(URL, &a, "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    form_release(&a);
}

Test(sig, hand_built_form_with_raw_values)
{
    struct form_field fields[] = {
        {"To", "+18005551212"},     {"From", "+14158675309"},         {"Digits", "1234"},
        {"Caller", "+14158675309"}, {"CallSid", "CA1234567890ABCDE"},
    };
    struct form f = {fields, 5, NULL};

    assert_sig(URL, &f, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
}

Test(sig, empty_token)
{
    char out[SIG_B64_SIZE];

    /* hmac.new(b"", b"https://a/b", sha1), base64. */
    cr_assert_eq(sig_compute("", "https://a/b", NULL, out), 0);
    cr_assert_str_eq(out, "89dwp7zYdFPGVUHfzpKGapbmuGs=");
}

Test(sig, compute_is_repeatable)
{
    char a[SIG_B64_SIZE], b[SIG_B64_SIZE];

    cr_assert_eq(sig_compute(TOKEN, URL, &P, a), 0);
    cr_assert_eq(sig_compute(TOKEN, URL, &P, b), 0);
    cr_assert_str_eq(a, b);
    cr_assert_eq(strlen(a), SIG_B64_SIZE - 1);
}

/* Body validation. */

Test(sig, body_without_sha_param_is_refused)
{
    char s[SIG_B64_SIZE];

    cr_assert_eq(sig_compute(TOKEN, URL, NULL, s), 0);
    cr_assert_eq(sig_validate_body(TOKEN, URL, JSON_BODY, strlen(JSON_BODY), s), SB_EBADSIG);
    cr_assert_eq(sig_compute(TOKEN, "https://mycompany.com/myapp.php", NULL, s), 0);
    cr_assert_eq(sig_validate_body(TOKEN, "https://mycompany.com/myapp.php", JSON_BODY,
                                   strlen(JSON_BODY), s),
                 SB_EBADSIG);
}

Test(sig, body_sha_in_upper_case_is_refused)
{
    /* The helpers compare the lower-case hexdigest exactly. */
    const char *url =
        URL "&bodySHA256=0A1FF7634D9AB3B95DB5C9A2DFE9416E41502B283A80C7CF19632632F96E6620";
    char s[SIG_B64_SIZE];

    cr_assert_eq(sig_compute(TOKEN, url, NULL, s), 0);
    cr_assert_eq(sig_validate_body(TOKEN, url, JSON_BODY, strlen(JSON_BODY), s), SB_EBADSIG);
}

Test(sig, body_sha_truncated_is_refused)
{
    const char *url =
        URL "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e662";
    char s[SIG_B64_SIZE];

    cr_assert_eq(sig_compute(TOKEN, url, NULL, s), 0);
    cr_assert_eq(sig_validate_body(TOKEN, url, JSON_BODY, strlen(JSON_BODY), s), SB_EBADSIG);
}

Test(sig, zero_length_body)
{
    const char *url = "https://mycompany.com/j?bodySHA256=" EMPTY_SHA;
    char s[SIG_B64_SIZE];

    cr_assert_eq(sig_compute(TOKEN, url, NULL, s), 0);
    cr_assert_eq(sig_validate_body(TOKEN, url, NULL, 0, s), 0);
    cr_assert_eq(sig_validate_body(TOKEN, url, "", 0, s), 0);
    cr_assert_eq(sig_validate_body(TOKEN, url, "x", 1, s), SB_EBADSIG);
}

Test(sig, body_with_nul_bytes_is_hashed_in_full)
{
    static const char body[] = {'{', '}', '\0', 'x'};
    const char *url = URL "&bodySHA256=" EMPTY_OBJ_SHA;

    /* Only the first two bytes hash to EMPTY_OBJ_SHA; four bytes must not. */
    cr_assert_eq(sig_validate_body(TOKEN, url, body, 2, "rw/jVviOgicj2+kHZULvebnA4ag="), 0);
    cr_assert_eq(sig_validate_body(TOKEN, url, body, sizeof(body), "rw/jVviOgicj2+kHZULvebnA4ag="),
                 SB_EBADSIG);
}

Test(sig, body_sha_param_is_percent_decoded_like_a_query)
{
    /* The hash is read from the decoded query, as python's parse_qs does. */
    const char *url = "https://mycompany.com/j?body%53HA256=" JSON_SHA;
    char s[SIG_B64_SIZE];

    cr_assert_eq(sig_compute(TOKEN, url, NULL, s), 0);
    cr_assert_eq(sig_validate_body(TOKEN, url, JSON_BODY, strlen(JSON_BODY), s), 0);
}

Test(sig, body_with_malformed_query_is_refused)
{
    const char *url = "https://mycompany.com/j?x=%zz&bodySHA256=" JSON_SHA;
    char s[SIG_B64_SIZE];

    cr_assert_eq(sig_compute(TOKEN, url, NULL, s), 0);
    cr_assert_eq(sig_validate_body(TOKEN, url, JSON_BODY, strlen(JSON_BODY), s), SB_EBADSIG);
}

/* Bad arguments and malformed URLs. */

Test(sig, null_arguments_are_einval)
{
    char out[SIG_B64_SIZE];

    cr_assert_eq(sig_compute(NULL, URL, NULL, out), SB_EINVAL);
    cr_assert_eq(sig_compute(TOKEN, NULL, NULL, out), SB_EINVAL);
    cr_assert_eq(sig_validate(NULL, URL, NULL, "x"), SB_EINVAL);
    cr_assert_eq(sig_validate(TOKEN, NULL, NULL, "x"), SB_EINVAL);
    cr_assert_eq(sig_validate_body(NULL, URL, "", 0, "x"), SB_EINVAL);
    cr_assert_eq(sig_validate_body(TOKEN, NULL, "", 0, "x"), SB_EINVAL);
    cr_assert_eq(sig_validate_body(TOKEN, URL, NULL, 3, "x"), SB_EINVAL);
}

Test(sig, malformed_urls_are_einval)
{
    static const char *const bad[] = {
        "",
        "mycompany.com/myapp.php",
        "/myapp.php?foo=1",
        "https:/mycompany.com/a",
        "https//mycompany.com/a",
        "://mycompany.com/a",
        "1http://mycompany.com/a",
        "https:///a",
        "https://?x=1",
        "https://user@/a",
        "https://:443/a",
        "https://mycompany.com:/a",
        "https://mycompany.com:65536/a",
        "https://mycompany.com:123456/a",
        "https://mycompany.com:44a/a",
        "https://mycompany.com:-1/a",
        "https://mycompany.com:443:443/a",
        "http://[::1/a",
        "http://[::1]x/a",
        "http://[::1]:/a",
        "http://[::1]:8o/a",
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(sig_validate(TOKEN, bad[i], NULL, "RSOYDt4T1cUTdK1PDd93/VVr8B8="), SB_EINVAL,
                     "url '%s'", bad[i]);
        cr_assert_eq(sig_validate_body(TOKEN, bad[i], "", 0, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
                     SB_EINVAL, "url '%s'", bad[i]);
    }
}

Test(sig, malformed_url_is_einval_even_without_header)
{
    cr_assert_eq(sig_validate(TOKEN, "nonsense", NULL, NULL), SB_EINVAL);
}

Test(sig, edge_urls_that_parse)
{
    static const char *const good[] = {
        "https://mycompany.com:65535/a",
        "https://mycompany.com:0/a",
        "svc+x-y.z://h/a",
        "https://u:p@w@mycompany.com/a",
        "https://mycompany.com/a@b:c",
        "https://mycompany.com?q=a:b@c/d",
        "http://[fe80::1%25eth0]:8080/a",
    };
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char s[SIG_B64_SIZE];

        cr_assert_eq(sig_compute(TOKEN, good[i], NULL, s), 0);
        cr_assert_eq(sig_validate(TOKEN, good[i], NULL, s), 0, "url '%s'", good[i]);
    }
}

Test(sig, compute_does_not_parse_the_url)
{
    char out[SIG_B64_SIZE];

    /* Computing is plain HMAC of the text; only validation needs a well-formed URL. */
    cr_assert_eq(sig_compute(TOKEN, "not a url", NULL, out), 0);
    cr_assert_eq(strlen(out), SIG_B64_SIZE - 1);
}

/* A keyed token gives the same answers as sig_validate, however often it is reused. */
Test(sig, keyed_token_matches_unkeyed_and_is_reusable)
{
    struct sig_key *k = NULL;

    cr_assert_eq(sig_key_new(&k, TOKEN), 0);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(sig_key_validate(k, URL, &P, "RSOYDt4T1cUTdK1PDd93/VVr8B8="), 0);
        cr_assert_eq(sig_key_validate(k, URL_443, &P, "RSOYDt4T1cUTdK1PDd93/VVr8B8="), 0);
        cr_assert_eq(sig_key_validate(k, URL, &P, "kvajT1Ptam85bY51eRf/AJRuM3w="), 0);
        cr_assert_eq(sig_key_validate(k, URL, &P, "RSOYDt4T1cUTdK1PDd93/VVr8B9="), SB_EBADSIG);
        cr_assert_eq(sig_key_validate(k, URL, NULL, "RSOYDt4T1cUTdK1PDd93/VVr8B8="), SB_EBADSIG);
        cr_assert_eq(sig_key_validate(k, URL, &P, NULL), SB_EBADSIG);
    }
    sig_key_free(k);
}

Test(sig, keyed_token_is_the_token_it_was_made_from)
{
    struct sig_key *k = NULL;

    cr_assert_eq(sig_key_new(&k, "54321"), 0);
    cr_assert_eq(sig_key_validate(k, URL, &P, "RSOYDt4T1cUTdK1PDd93/VVr8B8="), SB_EBADSIG);
    sig_key_free(k);
    cr_assert_eq(sig_key_new(&k, NULL), SB_EINVAL);
    cr_assert_null(k);
    sig_key_free(NULL);
}
