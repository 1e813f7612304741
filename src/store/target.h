/*
 * What a --db value names (SWITCHBOARD_DB): `postgres://...` or
 * `postgresql://...` (libpq connection URLs) name PostgreSQL; `sqlite:PATH`
 * and a bare path name a SQLite file. Also how a target is shown in logs
 * and messages: with any password masked, since the URL may carry one.
 *
 * Pure functions of their arguments; no allocation.
 */
#ifndef SB_STORE_TARGET_H
#define SB_STORE_TARGET_H

#include <stddef.h>

enum store_engine { STORE_SQLITE, STORE_POSTGRES };

/** The engine `target` names. */
enum store_engine store_target_engine(const char *target);

/** The SQLite file of a SQLite target: `target` without its `sqlite:` prefix. */
const char *store_target_sqlite_path(const char *target);

/**
 * Writes `target` into buf (always terminated, cut to fit) with the password
 * of a PostgreSQL URL (the `user:PASSWORD@` part and any `password=` query
 * parameter) replaced by `***`. Returns buf.
 */
const char *store_target_display(const char *target, char *buf, size_t size);

/* Room for a displayed target in the messages that name one. */
#define STORE_TARGET_DISPLAY_MAX 512

#endif
