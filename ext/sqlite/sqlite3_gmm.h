/*
** sqlite3_gmm.h -- the public header of the gmm SQLite extension: its one
** entry point, sqlite3_gmm_init, which registers every gmm_* function and
** table on a connection.
**
** Two ways to use gmm from C:
**
**  1. The loadable module (gmm.so; gmm.dylib on macOS), loaded at run time.
**     Neither this header nor linking against gmm is needed:
**
**       sqlite3_enable_load_extension(db, 1);
**       rc = sqlite3_load_extension(db, "/usr/local/lib/gmm", "sqlite3_gmm_init", &err);
**
**  2. The static library libgmm.a (built with -DSQLITE_CORE), linked into
**     the program before the system SQLite:
**
**       cc app.c -I/usr/local/include /usr/local/lib/libgmm.a -lsqlite3 -lm
**
**     Include this header and register the entry point, either for every
**     connection opened from then on (before sqlite3_open):
**
**       sqlite3_auto_extension((void (*)(void))sqlite3_gmm_init);
**
**     or on one connection already open:
**
**       rc = sqlite3_gmm_init(db, &err, NULL);
**
**     (pApi is used only by the loadable module: a static build calls SQLite
**     directly.) tests/clients/static.c is a complete example.
**
** sqlite3_gmm_init returns SQLITE_OK or an SQLite error code.
*/
#ifndef SQLITE3_GMM_H
#define SQLITE3_GMM_H

#include <sqlite3.h>

#ifdef __cplusplus
extern "C" {
#endif

int sqlite3_gmm_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi);

#ifdef __cplusplus
}
#endif

#endif /* SQLITE3_GMM_H */
