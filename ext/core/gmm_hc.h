/*
** gmm_hc.h -- mclust's model-based agglomerative clustering (hc) in the
** core: the tree of hc(x, modelName = "VVV", use = "SVD") of R's mclust
** 6.0.0 and its cuts, hclass(tree, k). Internal to the core (gmm_fit.c's
** init 'hc' uses it); ext/sqlite never includes it.
**
** The rows are centred and scaled (sd with n - 1), rotated onto the right
** singular vectors of the scaled data and each coordinate divided by the
** square root of its singular value; then, from singletons, the pair of
** groups whose merge least increases the VVV classification likelihood
** (Banfield & Raftery 1993; Fraley 1998) is merged, n - 1 times. All
** n (n - 1) / 2 pairwise merge costs are kept: quadratic memory, 1.6 GB at
** n = 20000 (GMM_MAX_HC_ROWS).
*/
#ifndef GMM_HC_H
#define GMM_HC_H

#include "gmm_internal.h"

#include <stddef.h>

typedef struct gmm_hc_tree gmm_hc_tree;

/* mclust's hc(x, modelName = "VVV", use = "SVD") over rows x[0..n) of d
** finite values (row-major). All memory through a (an allocator may fail at
** any call: GMM_ENOMEM, everything freed). err gets a sentence on failure.
** n >= 1 (GMM_EINVAL otherwise, and for d < 1, a non-finite value or
** n > INT_MAX). On GMM_OK *out owns the tree (free with gmm_hc_free). */
gmm_status gmm_hc_build(const double *x, size_t n, int d, const gmm_allocator *a,
                        gmm_hc_tree **out, char *err, size_t err_len);

/* labels[0..n) = hclass(tree, k) - 1: the partition after n - k merges,
** numbered 0, 1, ... in the order of each group's first row (mclust's
** numbering, 0-based). 1 <= k <= n (k is clamped into that range). */
void gmm_hc_cut(const gmm_hc_tree *t, int k, int *labels);

/* The rows the tree was built on (n). */
size_t gmm_hc_rows(const gmm_hc_tree *t);

/* Merge s (0 <= s < n - 1) as mclust's hc object lists it, 0-based: the
** groups whose first rows are *a < *b are merged (R's pairs are a + 1,
** b + 1). */
void gmm_hc_merge(const gmm_hc_tree *t, size_t s, int *a, int *b);

/* Accepts NULL. */
void gmm_hc_free(gmm_hc_tree *t);

#endif /* GMM_HC_H */
