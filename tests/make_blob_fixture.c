/*
** make_blob_fixture.c -- writes tests/fixtures/model_vN.bin, the fixture
** BLOB of the current model format version N (GMM_BLOB_VERSION) that
** tests/test_blob.c must keep reading forever (DESIGN.md section 3: "An old format version stays readable
** forever: keep one fixture BLOB per version in tests/").
**
**   NEVER REGENERATE A COMMITTED FIXTURE. Its bytes are the contract: if the
**   current code cannot read them, the code is wrong, not the fixture. When
**   the format changes, bump GMM_BLOB_VERSION, add a new fixture
**   (model_v2.bin, ...) with a new generator run and a new test, and keep
**   every old fixture and its test unchanged.
**
** The program refuses to overwrite an existing file (fopen mode "wbx").
**
** Build and run once, from the repository root:
**   cc -std=c11 -O2 -Iext/core tests/make_blob_fixture.c ext/core/[a-z]*.c \
**      -lm -o /tmp/make_blob_fixture
**   mkdir -p tests/fixtures && /tmp/make_blob_fixture tests/fixtures/model_v2.bin
**
** It prints the values to hard-code in tests/test_blob.c (between
** FIXTURE_VALUES_BEGIN and FIXTURE_VALUES_END).
**
** The models, on the 12 fixed rows below (two groups of 5 and 7 rows), with
** n_skipped 3:
**   model_v1.bin (written by the version-1 encoder, kept as it was): k=2,
**     d=2, full covariance, default options (seed 0);
**   model_v2.bin (this program): a selection over k in {1, 2} and
**     covariance types {tied, diag}, rows weighted 1, 2, 1, 2, ..., so that
**     the file holds what version 2 added: other covariance types, the
**     weighted flag and the candidates.
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "gmm.h"

static const double ROWS[12][2] = {
    {1.0, 2.0}, {1.5, 1.8}, {0.8, 2.4}, {1.2, 2.2}, {0.9, 1.7},             /* group A */
    {6.0, 7.5}, {6.4, 7.1}, {5.8, 8.0}, {6.9, 7.7}, {6.2, 6.8}, {5.5, 7.3}, /* group B */
    {6.6, 8.2}};

static const double SCORE_ROW[2] = {2.0, 2.5};

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s tests/fixtures/model_v%d.bin\n", argv[0], GMM_BLOB_VERSION);
    return 2;
  }
  gmm_options opt;
  gmm_options_default(&opt, 2);
  double weights[12];
  for (int i = 0; i < 12; i++) weights[i] = 1.0 + (double)(i % 2);
  gmm_data data = {&ROWS[0][0], 12, 2, weights, 3};
  const int ks[2] = {1, 2};
  const gmm_cov_type types[2] = {GMM_COV_TIED, GMM_COV_DIAG};
  gmm_model *m = NULL;
  char err[512] = "";
  gmm_status rc =
      gmm_fit_select(&data, &opt, ks, 2, types, 2, &gmm_libc_allocator, NULL, NULL, &m, err, sizeof err);
  if (rc != GMM_OK) {
    fprintf(stderr, "gmm_fit_select failed (%d): %s\n", (int)rc, err);
    return 1;
  }
  size_t n = gmm_blob_size(m);
  unsigned char *p = malloc(n);
  if (!p) return 1;
  gmm_blob_write(m, p);

  FILE *f = fopen(argv[1], "wbx");
  if (!f) {
    fprintf(stderr, "%s: cannot create (it exists? fixtures are never regenerated)\n", argv[1]);
    return 1;
  }
  if (fwrite(p, 1, n, f) != n || fclose(f) != 0) {
    fprintf(stderr, "%s: write failed\n", argv[1]);
    return 1;
  }

  double *scratch = malloc(sizeof(double) * (gmm_model_scratch_len(m) + 1));
  if (!scratch) return 1;
  double score = gmm_model_score_row(m, SCORE_ROW, scratch, NULL, NULL);
  printf("/* FIXTURE_VALUES_BEGIN (printed by tests/make_blob_fixture.c) */\n");
  printf("#define FIXTURE_LEN %zu\n", n);
  printf("#define FIXTURE_COV_TYPE %d\n", (int)m->covariance_type);
  printf("#define FIXTURE_N_CANDIDATES %d\n", m->n_candidates);
  printf("#define FIXTURE_K %d\n", m->k);
  printf("#define FIXTURE_D %d\n", m->d);
  printf("static const double FIXTURE_WEIGHTS[FIXTURE_K] = {%.17g, %.17g};\n", m->weights[0],
         m->weights[1]);
  printf("static const double FIXTURE_MEANS[FIXTURE_K * FIXTURE_D] = {%.17g, %.17g, %.17g, %.17g};\n",
         m->means[0], m->means[1], m->means[2], m->means[3]);
  printf("static const double FIXTURE_N_SAMPLES = %.17g;\n", m->summary.n_samples);
  printf("static const int64_t FIXTURE_N_SKIPPED = %" PRId64 ";\n", m->summary.n_skipped);
  printf("static const double FIXTURE_ROW[FIXTURE_D] = {%.17g, %.17g};\n", SCORE_ROW[0],
         SCORE_ROW[1]);
  printf("static const double FIXTURE_ROW_SCORE = %.17g;\n", score);
  printf("/* FIXTURE_VALUES_END */\n");
  free(scratch);
  free(p);
  gmm_model_free(m);
  return 0;
}
