/*
** bench_core.c -- the numeric core alone, for make bench.
**
**   bench_core FILE N D K COV MAX_ITER [sorted]
**
** Loads N x D float64 rows from FILE (gen_data's format), then fits with
** init random_from_data, tol 0, n_init 1, seed 0 and covariance type COV
** (full, tied, diag, spherical) twice: max_iter 0 (the initialisation and
** the final log-likelihood pass) and max_iter MAX_ITER. Prints one line of
** JSON: both wall times, their difference divided by MAX_ITER (seconds per
** EM iteration), and the peak resident set (getrusage ru_maxrss) above the
** resident set once the data is loaded. With "sorted" the rows are first put
** in the canonical order (gmm_canonical_order), as gmm_fit in SQL does, so
** that the two can be told apart from the effect of row order.
*/
#define _POSIX_C_SOURCE 200809L
#include "gmm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

static double fit(const gmm_data *data, const gmm_options *opt, int *n_iter, double *ll) {
  char err[256] = "";
  gmm_model *m = NULL;
  double t0 = now();
  gmm_status rc = gmm_fit(data, opt, &gmm_libc_allocator, NULL, NULL, &m, err, sizeof err);
  double t = now() - t0;
  if (rc != GMM_OK) {
    fprintf(stderr, "bench_core: gmm_fit failed (%d): %s\n", (int)rc, err);
    exit(1);
  }
  *n_iter = m->summary.n_iter;
  *ll = m->summary.log_likelihood / m->summary.n_samples;
  gmm_model_free(m);
  return t;
}

int main(int argc, char **argv) {
  int sorted = argc == 8 && strcmp(argv[7], "sorted") == 0;
  if (argc != 7 && !sorted) {
    fprintf(stderr, "usage: %s FILE N D K COV MAX_ITER [sorted]\n", argv[0]);
    return 2;
  }
  size_t n = (size_t)strtoull(argv[2], NULL, 10);
  int d = atoi(argv[3]), k = atoi(argv[4]), cov = gmm_cov_type_from_name(argv[5]);
  int max_iter = atoi(argv[6]);
  if (n == 0 || d < 1 || k < 1 || cov < 0 || max_iter < 1) {
    fprintf(stderr, "bench_core: bad arguments\n");
    return 2;
  }
  double *x = malloc(n * (size_t)d * sizeof *x);
  FILE *f = fopen(argv[1], "rb");
  if (!x || !f || fread(x, sizeof *x, n * (size_t)d, f) != n * (size_t)d) {
    fprintf(stderr, "bench_core: cannot read %zu x %d doubles from %s\n", n, d, argv[1]);
    return 1;
  }
  fclose(f);
  if (sorted) gmm_canonical_order(x, NULL, n, d, 0);
  long base = rss_kib();

  gmm_data data = {x, n, d, NULL, 0};
  gmm_options opt;
  gmm_options_default(&opt, k);
  opt.covariance_type = (gmm_cov_type)cov;
  opt.init = GMM_INIT_RANDOM_FROM_DATA;
  opt.tol = 0.0;
  opt.n_init = 1;
  opt.seed = 0;

  int it0, itn;
  double ll0, lln;
  opt.max_iter = 0;
  double t_init = fit(&data, &opt, &it0, &ll0);
  opt.max_iter = max_iter;
  double t_fit = fit(&data, &opt, &itn, &lln);
  if (itn != max_iter) {
    fprintf(stderr, "bench_core: %d iterations instead of %d\n", itn, max_iter);
    return 1;
  }
  printf("{\"tool\": \"core\", \"sorted\": %d, \"cov\": \"%s\", \"max_iter\": %d, \"init_s\": %.6f, \"fit_s\": %.6f, "
         "\"per_iter_s\": %.6f, \"peak_above_data_mib\": %.1f, \"data_rss_mib\": %.1f, "
         "\"mean_ll\": %.6f}\n",
         sorted, argv[5], max_iter, t_init, t_fit, (t_fit - t_init) / max_iter,
         (double)(peak_kib() - base) / 1024.0, (double)base / 1024.0, lln);
  free(x);
  return 0;
}
