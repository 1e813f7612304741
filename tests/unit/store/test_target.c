/* What a --db value names, and how it is shown with its password masked. */
#include <criterion/criterion.h>
#include <string.h>

#include "store/target.h"

Test(target, engines)
{
    cr_assert_eq(store_target_engine("postgres://db.example/sb"), STORE_POSTGRES);
    cr_assert_eq(store_target_engine("postgresql:///sb?host=/run/pg"), STORE_POSTGRES);
    cr_assert_eq(store_target_engine("POSTGRESQL://h/sb"), STORE_POSTGRES);
    cr_assert_eq(store_target_engine("sqlite:/var/lib/switchboard/db"), STORE_SQLITE);
    cr_assert_eq(store_target_engine("./switchboard.db"), STORE_SQLITE);
    cr_assert_eq(store_target_engine("postgres.db"), STORE_SQLITE);
    cr_assert_str_eq(store_target_sqlite_path("sqlite:/tmp/a.db"), "/tmp/a.db");
    cr_assert_str_eq(store_target_sqlite_path("sqlite:rel.db"), "rel.db");
    cr_assert_str_eq(store_target_sqlite_path("/tmp/a.db"), "/tmp/a.db");
    cr_assert_str_eq(store_target_sqlite_path("./llamadas-ñ.db"), "./llamadas-ñ.db");
}

Test(target, passwords_are_masked)
{
    char buf[STORE_TARGET_DISPLAY_MAX];

    cr_assert_str_eq(
        store_target_display("postgresql://sb:hunter2@db.example:5432/sb", buf, sizeof(buf)),
        "postgresql://sb:***@db.example:5432/sb");
    /* A password holding '@' and '/' (percent-encoding is optional to some users). */
    cr_assert_str_eq(store_target_display("postgres://sb:p@ss/w@db/sb", buf, sizeof(buf)),
                     "postgres://sb:***@db/sb");
    cr_assert_str_eq(store_target_display("postgresql://db/sb?sslmode=require&password=x%26y"
                                          "&application_name=sb",
                                          buf, sizeof(buf)),
                     "postgresql://db/sb?sslmode=require&password=***&application_name=sb");
    cr_assert_str_eq(store_target_display("postgresql://db/sb?PASSWORD=x", buf, sizeof(buf)),
                     "postgresql://db/sb?password=***");
    /* Nothing to mask. */
    cr_assert_str_eq(store_target_display("postgresql://sb@db/sb", buf, sizeof(buf)),
                     "postgresql://sb@db/sb");
    cr_assert_str_eq(store_target_display("postgresql:///sb?host=/run/pg", buf, sizeof(buf)),
                     "postgresql:///sb?host=/run/pg");
    cr_assert_str_eq(
        store_target_display("postgres://db/sb?user=sb&password=s3cret&sslmode=require", buf,
                             sizeof(buf)),
        "postgres://db/sb?user=sb&password=***&sslmode=require");
    cr_assert_str_eq(store_target_display("postgresql:///sb?host=/run/postgresql&password=s3cret",
                                          buf, sizeof(buf)),
                     "postgresql:///sb?host=/run/postgresql&password=***");
    cr_assert_str_eq(store_target_display("sqlite:/tmp/a:b@c.db", buf, sizeof(buf)),
                     "sqlite:/tmp/a:b@c.db");
}

Test(target, display_is_cut_to_fit)
{
    char small[12];

    memset(small, 'x', sizeof(small));
    store_target_display("postgresql://sb:hunter2@db.example/sb", small, sizeof(small));
    cr_assert_eq(strlen(small), sizeof(small) - 1);
    cr_assert_null(strstr(small, "hunter2"));
    store_target_display(NULL, small, sizeof(small));
    cr_assert_str_eq(small, "");
}
