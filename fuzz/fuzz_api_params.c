/*
 * libFuzzer target for sim/api_params: the query strings of Calls list
 * (StartTime/EndTime filters, PageSize, Page, PageToken) come from any
 * client of switchboard sim api, and the --answered-by argument from its
 * command line. The input is tried as a query string and as one value.
 * Besides the sanitizers it checks the contracts: a date parses to a day
 * whose midnight maps back to it, and a YYYY-MM-DD prefix of a date-time
 * in UTC names the same day; paging values stay in their ranges and a
 * token's SID is the rest of the token; a failed --answered-by parse leaves
 * its argument as it was, and a good one names a valid answer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/form.h"
#include "sim/api_params.h"

static void check_query(const char *text, size_t size)
{
    struct form q = FORM_INIT;
    struct api_params_days days;
    struct api_params_page page;
    char bad[32];

    if (form_parse(&q, text, size) != 0)
        return;
    for (int i = 0; i < 2; i++) {
        const char *name = i ? "EndTime" : "StartTime";

        memset(bad, 'x', sizeof(bad));
        if (api_params_days_parse(&q, name, &days, bad, sizeof(bad)) != 0) {
            if (!memchr(bad, '\0', sizeof(bad)) || strncmp(bad, name, strlen(name)) != 0)
                abort();
            continue;
        }
        if (days.has_from && days.has_to && days.from <= days.to &&
            !api_params_days_match(&days, days.from) && !days.has_on)
            abort();
    }
    memset(bad, 'x', sizeof(bad));
    if (api_params_page_parse(&q, &page, bad, sizeof(bad)) == 0) {
        const char *token = form_get(&q, "PageToken");

        if (page.size < 1 || page.size > API_PAGE_SIZE_MAX || page.number < 0 ||
            page.number > API_PAGE_MAX)
            abort();
        if (page.after_sid && (!token || strcmp(page.after_sid, token + 2) != 0))
            abort();
    } else if (!memchr(bad, '\0', sizeof(bad))) {
        abort();
    }
    form_release(&q);
}

static void check_value(const char *value, size_t size)
{
    struct api_params_answer answer;
    long long day, again;
    char *copy = malloc(size + 1);

    if (!copy)
        return;
    memcpy(copy, value, size);
    copy[size] = '\0';
    if (api_params_day(copy, &day) == 0) {
        if (api_params_day_of((time_t)(day * 86400)) != day)
            abort();
        /* A date-time in UTC is on the day its first ten characters name. */
        if (strlen(copy) > 10 && copy[strlen(copy) - 1] == 'Z') {
            char date[11];

            memcpy(date, copy, 10);
            date[10] = '\0';
            if (api_params_day(date, &again) != 0 || (again != day && again + 1 != day))
                abort(); /* a leap second (23:59:60) is the next day's midnight */
        }
    }
    if (api_params_answer_parse(copy, &answer) == 0) {
        if (!answer.answered_by || (!api_params_answered_by_valid(answer.answered_by) &&
                                    strcmp(answer.answered_by, "random") != 0))
            abort();
        if (answer.number && (!*answer.number || answer.number != copy))
            abort();
    } else if (memcmp(copy, value, size) != 0 || answer.answered_by || answer.number) {
        abort();
    }
    api_params_amd_pick(size, copy, size, (int)(size & 1));
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_query((const char *)data, size);
    check_value((const char *)data, size);
    return 0;
}
