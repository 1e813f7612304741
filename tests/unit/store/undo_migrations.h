/*
 * SQL that takes a test database back before a migration, for the tests
 * that open an older file and migrate it. Each undoes one migration of
 * store/sqlite.c; a test going back to migration N runs those above N,
 * newest first.
 */
#ifndef SB_TESTS_STORE_UNDO_MIGRATIONS_H
#define SB_TESTS_STORE_UNDO_MIGRATIONS_H

/* The newest migration: what a migrated database's schema_migrations ends at. */
#define LATEST_MIGRATION 11

/* Migration 11: the create slots of the shared rate. */
#define UNDO_MIGRATION_11                                                                          \
    "DROP TABLE rate_slots;"                                                                       \
    "DELETE FROM schema_migrations WHERE version >= 11;"

/* Migration 10: an API key's name. */
#define UNDO_MIGRATION_10                                                                          \
    "ALTER TABLE api_keys DROP COLUMN name;"                                                       \
    "DELETE FROM schema_migrations WHERE version >= 10;"

/* Migration 9: the inbound calls texted after a failed transfer. */
#define UNDO_MIGRATION_9                                                                           \
    "DROP TABLE transfer_texts;"                                                                   \
    "DELETE FROM schema_migrations WHERE version >= 9;"

/* Migration 8: the tenant's SMS fallback template. */
#define UNDO_MIGRATION_8                                                                           \
    "ALTER TABLE tenants DROP COLUMN sms_fallback;"                                                \
    "DELETE FROM schema_migrations WHERE version >= 8;"

/* Migration 7: the outbound job queue and the call log's job_id. */
#define UNDO_MIGRATION_7                                                                           \
    "DROP TABLE idempotency; DROP TABLE api_keys; DROP TABLE opt_outs; DROP TABLE jobs;"           \
    "DROP TABLE campaigns; DROP INDEX calls_by_job; ALTER TABLE calls DROP COLUMN job_id;"         \
    "DELETE FROM schema_migrations WHERE version >= 7;"

#endif
