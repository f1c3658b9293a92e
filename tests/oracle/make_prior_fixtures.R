#!/usr/bin/env Rscript
# make_prior_fixtures.R -- oracle fixtures for mclust's conjugate prior
# (priorControl() -> defaultPrior, MAP EM), read by the gmm C tests.
#
# Usage (run tests/oracle/make_bayes_fixtures.py FIRST: this script reads the
# data rows and the k-means start labels from tests/oracle/bayes_fixtures.h):
#
#   /usr/bin/python3 tests/oracle/make_bayes_fixtures.py
#   Rscript tests/oracle/make_prior_fixtures.R tests/oracle/prior_fixtures.h
#
# (with no argument the header goes to stdout). Needs mclust 6.0.0; a few
# seconds. Progress and checks go to stderr.
#
# 1. The M-step formulas. map_mstep() below is the exact MAP M-step of
#    mclust's mstep() (Fortran ms*p) for VVV, EEE, VVI, VII, EII, EEI, and
#    me_mstep() the one inside me() (Fortran me*p, what Mclust() runs), which
#    differs for EEI and EII (and VVV with shrinkage 0). Both are checked here
#    against mclust on random soft z for faithful and iris, G = 1..4,
#    shrinkage 0.01, 0, 1, 5; the worst relative difference is written into
#    the header.
# 2. prior_cases: for faithful (k = 4) and iris (k = 3), from the start
#    labels of bayes_fixtures.h, for each of the six models:
#      m <- mstep(model, x, z = unmap(labels), prior = priorControl())
#      50 times { e <- estep(model, x, m$parameters); m <- mstep(model, x, e$z, prior) }
#      e <- estep(model, x, m$parameters)
#    (51 M-steps). Recorded: the first M-step (from the hard labels) and the
#    final parameters, the final estep's loglik and z, and the prior.
#    For EEI and EII, whose me() M-step differs from mstep(), also the me()
#    path: me(model, x, z = unmap(labels), prior, control = emControl(tol = 0,
#    itmax = 51)), the same 51 M-step / E-step pairs with me()'s M-step.
# 3. Mclust(faithful, G = 3, modelNames = "EEE", prior = priorControl()):
#    loglik and bic for reference.

suppressPackageStartupMessages(library(mclust))
stopifnot(packageVersion("mclust") == "6.0.0")

out_arg <- commandArgs(trailingOnly = TRUE)
out_con <- if (length(out_arg) >= 1) file(out_arg[1], "w") else stdout()
emit <- function(...) cat(..., sep = "", file = out_con)
note <- function(...) cat(..., "\n", sep = "", file = stderr())

# ---- locate and read bayes_fixtures.h -------------------------------------
script_dir <- local({
  a <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  if (length(a)) dirname(normalizePath(sub("^--file=", "", a[1]))) else "tests/oracle"
})
bayes_h <- file.path(script_dir, "bayes_fixtures.h")
htext <- paste(readLines(bayes_h), collapse = "\n")
read_array <- function(name) {
  m <- regmatches(htext, regexec(paste0("static const (?:double|int) ", name,
                                        "\\[(\\d+)\\] = \\{([^}]*)\\}"), htext, perl = TRUE))[[1]]
  if (length(m) != 3) stop("no array ", name, " in ", bayes_h)
  v <- as.numeric(strsplit(gsub("\\s", "", m[3]), ",")[[1]])
  v <- v[!is.na(v)]
  stopifnot(length(v) == as.integer(m[2]))
  v
}
fx <- matrix(read_array("bayes_faithful_x"), ncol = 2, byrow = TRUE)
ix <- matrix(read_array("bayes_iris_x"), ncol = 4, byrow = TRUE)
fl <- as.integer(read_array("bayes_faithful_k4_labels"))
il <- as.integer(read_array("bayes_iris_k3_labels"))
same_faithful <- isTRUE(all(fx == as.matrix(datasets::faithful)))
same_iris <- isTRUE(all(ix == as.matrix(datasets::iris[, 1:4])))
note("faithful rows identical to datasets::faithful: ", same_faithful,
     "; iris rows identical to datasets::iris[, 1:4]: ", same_iris)
colnames(fx) <- c("eruptions", "waiting")
sets <- list(faithful = list(x = fx, labels = fl, k = 4L),
             iris = list(x = ix, labels = il, k = 3L))

# ---- the formulas ----------------------------------------------------------
# z: n x G responsibilities; pr: defaultPrior(x, G, model) (shrinkage kappa,
# mean mu_P, dof nu_P, scale Lambda_P). n_k = sum_i z_ik, xbar_k, W_k =
# sum_i z_ik (x_i - xbar_k)(x_i - xbar_k)', c_k = kappa n_k / (n_k + kappa),
# B_k = W_k + c_k (xbar_k - mu_P)(xbar_k - mu_P)', [k>0] = 1 if kappa > 0.
stats_of <- function(X, z, pr) {
  n <- nrow(X); p <- ncol(X); G <- ncol(z); kap <- pr$shrinkage
  nk <- colSums(z); xbar <- t(z) %*% X / nk
  mu <- (nk * xbar + kap * matrix(pr$mean, G, p, byrow = TRUE)) / (nk + kap)
  B <- array(0, c(p, p, G))
  for (k in 1:G) {
    R <- sweep(X, 2, xbar[k, ])
    dd <- xbar[k, ] - pr$mean
    B[, , k] <- crossprod(R * sqrt(z[, k])) + (kap * nk[k] / (nk[k] + kap)) * tcrossprod(dd)
  }
  list(n = n, p = p, G = G, kap = kap, ind = as.numeric(kap > 0), nk = nk, xbar = xbar, mu = mu, B = B)
}
map_mstep <- function(M, X, z, pr) {           # mstep(): Fortran ms*p
  s <- stats_of(X, z, pr); p <- s$p; G <- s$G; nu <- pr$dof; S <- pr$scale
  sig <- array(0, c(p, p, G)); mu <- s$mu
  if (M == "VVV") for (k in 1:G) sig[, , k] <- (S + s$B[, , k]) / (nu + s$nk[k] + p + 1 + s$ind)
  if (M == "EEE") { T <- (S + apply(s$B, 1:2, sum)) / (nu + s$n + p + 1 + G * s$ind); for (k in 1:G) sig[, , k] <- T }
  if (M == "VVI") for (k in 1:G) sig[, , k] <- diag((S + diag(s$B[, , k])) / (nu + s$nk[k] + 2 + s$ind), p)
  if (M == "VII") for (k in 1:G) sig[, , k] <- diag((S + sum(diag(s$B[, , k]))) / (nu + p * s$nk[k] + 2 + p * s$ind), p)
  if (M == "EEI") {                            # means NOT shrunk
    mu <- s$xbar
    T <- (S + diag(apply(s$B, 1:2, sum))) / (nu + s$n + 2 + G * s$ind)
    for (k in 1:G) sig[, , k] <- diag(T, p)
  }
  if (M == "EII") {                            # scale NOT used; residuals about the shrunk mean
    tot <- 0
    for (k in 1:G) tot <- tot + sum(sweep(X, 2, s$mu[k, ])^2 * z[, k]) +
      (s$kap * s$nk[k] / (s$nk[k] + s$kap)) * sum((s$xbar[k, ] - pr$mean)^2)
    s2 <- tot / (nu + p * s$n + 2 + p * G * s$ind)
    for (k in 1:G) sig[, , k] <- diag(s2, p)
  }
  list(pro = s$nk / s$n, mean = t(mu), sigma = sig)
}
me_mstep <- function(M, X, z, pr) {            # me(): Fortran me*p
  r <- map_mstep(M, X, z, pr); s <- stats_of(X, z, pr); p <- s$p; G <- s$G; nu <- pr$dof
  if (M == "VVV") for (k in 1:G) r$sigma[, , k] <- (pr$scale + s$B[, , k]) / (nu + s$nk[k] + p + 2)
  if (M == "EEI") { T <- (pr$scale + diag(apply(s$B, 1:2, sum))) / (nu + s$n + 1 + s$ind); for (k in 1:G) r$sigma[, , k] <- diag(T, p) }
  if (M == "EII") { s2 <- sum(apply(s$B, 3, function(a) sum(diag(a)))) / (nu + (s$n + G) * p + 2); for (k in 1:G) r$sigma[, , k] <- diag(s2, p) }
  r
}
MODELS <- c("VVV", "EEE", "VVI", "VII", "EII", "EEI")
relerr <- function(a, b) max(abs(a - b) / pmax(abs(b), .Machine$double.xmin))
prior_of <- function(X, G, M, pc) do.call(defaultPrior, c(list(data = X, G = G, modelName = M), pc[-1]))

set.seed(20240601)
worst_ms <- 0; worst_me <- 0
for (ds in names(sets)) {
  X <- sets[[ds]]$x; n <- nrow(X)
  for (G in 1:4) for (shr in c(0.01, 0, 1, 5)) for (rep in 1:2) {
    z <- if (rep == 1) matrix(runif(n * G), n, G) else
      0.7 * unmap(kmeans(X, G, nstart = 1)$cluster) + 0.3 * matrix(runif(n * G), n, G)
    z <- z / rowSums(z)
    pc <- if (shr == 0.01) priorControl() else priorControl(shrinkage = shr)
    for (M in MODELS) {
      pr <- prior_of(X, G, M, pc)
      a <- mstep(modelName = M, data = X, z = z, prior = pc)$parameters
      b <- me(modelName = M, data = X, z = z, prior = pc, control = emControl(itmax = 1), warn = FALSE)$parameters
      c1 <- map_mstep(M, X, z, pr); c2 <- me_mstep(M, X, z, pr)
      e1 <- max(relerr(c1$pro, a$pro), relerr(c1$mean, a$mean), relerr(c1$sigma, a$variance$sigma))
      e2 <- max(relerr(c2$pro, b$pro), relerr(c2$mean, b$mean), relerr(c2$sigma, b$variance$sigma))
      if (e1 > 1e-12 || e2 > 1e-12) stop(sprintf("%s G=%d shrinkage=%g %s: formula off by %.2e (mstep) %.2e (me)", ds, G, shr, M, e1, e2))
      worst_ms <- max(worst_ms, e1); worst_me <- max(worst_me, e2)
    }
  }
}
note(sprintf("formulas: worst relative difference %.2e (mstep), %.2e (me)", worst_ms, worst_me))

# ---- the fits -----------------------------------------------------------------
N_ITER <- 50L
cases <- list()
for (ds in names(sets)) {
  X <- sets[[ds]]$x; lab <- sets[[ds]]$labels; G <- sets[[ds]]$k
  z0 <- unmap(lab + 1L)
  stopifnot(ncol(z0) == G)
  for (M in MODELS) {
    pc <- priorControl()
    pr <- prior_of(X, G, M, pc)
    m <- mstep(modelName = M, data = X, z = z0, prior = pc)
    first <- m$parameters
    # every M-step along the path is checked against map_mstep()
    path_err <- 0
    chk <- function(z, m) {
      q <- map_mstep(M, X, z, pr)
      max(relerr(q$pro, m$parameters$pro), relerr(q$mean, m$parameters$mean),
          relerr(q$sigma, m$parameters$variance$sigma))
    }
    path_err <- max(path_err, chk(z0, m))
    for (it in 1:N_ITER) {
      e <- estep(modelName = M, data = X, parameters = m$parameters)
      m <- mstep(modelName = M, data = X, z = e$z, prior = pc)
      path_err <- max(path_err, chk(e$z, m))
    }
    if (path_err > 1e-12) stop(sprintf("%s %s: map_mstep off by %.2e on the path", ds, M, path_err))
    e <- estep(modelName = M, data = X, parameters = m$parameters)
    par <- m$parameters
    stopifnot(is.finite(e$loglik), all(is.finite(par$variance$sigma)))
    base <- list(ds = ds, model = M, n = nrow(X), d = ncol(X), k = G, pr = pr,
                 first = first)
    cases[[length(cases) + 1]] <- c(base, list(path = 0L, n_mstep = N_ITER + 1L,
      loglik = e$loglik, pro = par$pro, mean = par$mean, sigma = par$variance$sigma, z = e$z))
    note(sprintf("%-8s %s mstep/estep: loglik %.10f pro %s (formulas on the path: %.1e)", ds, M, e$loglik, paste(sprintf("%.3g", par$pro), collapse = " "), path_err))
    # me() path (Mclust's M-step)
    f <- me(modelName = M, data = X, z = z0, prior = pc,
            control = emControl(tol = 0, itmax = N_ITER + 1L), warn = FALSE)
    its <- abs(attr(f, "info")[["iterations"]])  # negative when itmax was reached
    ef <- estep(modelName = M, data = X, parameters = f$parameters)
    d_me <- max(relerr(f$parameters$mean, par$mean), relerr(f$parameters$variance$sigma, par$variance$sigma))
    stopifnot(abs(ef$loglik - f$loglik) <= 1e-9 * abs(f$loglik))
    note(sprintf("%-8s %s me(): %d iterations, loglik %.10f; differs from the mstep path by %.2e", ds, M, its, f$loglik, d_me))
    if (M %in% c("EEI", "EII")) {
      base$first <- me(modelName = M, data = X, z = z0, prior = pc,
                       control = emControl(itmax = 1L), warn = FALSE)$parameters
      cases[[length(cases) + 1]] <- c(base, list(path = 1L, n_mstep = as.integer(its),
        loglik = f$loglik, pro = f$parameters$pro, mean = f$parameters$mean,
        sigma = f$parameters$variance$sigma, z = f$z))
    } else {
      cases[[length(cases)]]$me_diff <- d_me
    }
  }
}

mc <- Mclust(fx, G = 3, modelNames = "EEE", prior = priorControl(), verbose = FALSE)
mc_est <- estep(modelName = "EEE", data = fx, parameters = mc$parameters)$loglik
# Mclust's $parameters are mstep() of its $z (one M-step past its $loglik)
mc_ms <- mstep(modelName = "EEE", data = fx, z = mc$z, prior = priorControl())$parameters
stopifnot(relerr(mc_ms$variance$sigma, mc$parameters$variance$sigma) < 1e-13,
          relerr(mc_ms$mean, mc$parameters$mean) < 1e-13)
note(sprintf("Mclust(faithful, G=3, EEE, prior): loglik %.10f bic %.10f; estep at its $parameters %.10f",
             mc$loglik, mc$bic, mc_est))

# ---- the header ------------------------------------------------------------------
fmt <- function(v) sprintf("%.17g", v)
emit_doubles <- function(name, v, per_line) {
  v <- as.numeric(v); s <- fmt(v)
  stopifnot(all(is.finite(v)), all(as.numeric(s) == v))
  lines <- split(s, ceiling(seq_along(s) / per_line))
  emit("static const double ", name, "[", length(v), "] = {\n")
  emit(paste0("  ", vapply(lines, paste, "", collapse = ", "), collapse = ",\n"), "\n};\n")
}
# R arrays are column-major: mean is d x k, sigma d x d x k, z n x k.
rowmajor_mean <- function(mu) as.numeric(mu)           # d x k column-major == k x d row-major
rowmajor_sigma <- function(s) as.numeric(aperm(s, c(2, 1, 3)))  # symmetric anyway
rowmajor_z <- function(z) as.numeric(t(z))

versions <- sprintf("mclust %s, %s", packageVersion("mclust"), R.version.string)
emit("/*
** prior_fixtures.h -- GENERATED FILE, DO NOT EDIT.
**
** Generated by tests/oracle/make_prior_fixtures.R with\n** ", versions, ".
** Regenerate with (Python first: the R script reads bayes_fixtures.h)
**
**     /usr/bin/python3 tests/oracle/make_bayes_fixtures.py
**     Rscript tests/oracle/make_prior_fixtures.R tests/oracle/prior_fixtures.h
**
** mclust's conjugate prior (priorControl() -> defaultPrior; Fraley and
** Raftery 2007, J. Classification 24:155-181), MAP EM, for VVV, EEE, VVI, VII,
** EII, EEI. Data and start labels are bayes_fixtures.h's: bayes_faithful_x
** (272 x 2) with bayes_faithful_k4_labels, bayes_iris_x (150 x 4) with
** bayes_iris_k3_labels (include bayes_fixtures.h first). Doubles are printed
** with %.17g (round-trips).
**
** Prior (defaultPrior(x, G, model)), p = ncol(x), var() with divisor n-1:
**   shrinkage kappa = 0.01;  mean mu_P = colMeans(x);  dof nu_P = p + 2;
**   scale, VVV/EEE: (1/G)^(2/p) * var(x)                 (p x p)
**          VVI/VII/EII/EEI: (1/G)^(2/p) * sum_j var(x_j) / p   (scalar)
**
** M-step, with n_k = sum_i z_ik, xbar_k = sum_i z_ik x_i / n_k,
** W_k = sum_i z_ik (x_i - xbar_k)(x_i - xbar_k)', c_k = kappa n_k/(n_k+kappa),
** B_k = W_k + c_k (xbar_k - mu_P)(xbar_k - mu_P)', I = [kappa > 0]:
**   pro_k = n_k / n;  mean_k = (n_k xbar_k + kappa mu_P)/(n_k + kappa),
**   except EEI: mean_k = xbar_k (not shrunk);
**   mstep() (path 0):
**   VVV  Sigma_k = (Lambda + B_k) / (nu + n_k + p + 1 + I)
**   EEE  Sigma   = (Lambda + sum_k B_k) / (nu + n + p + 1 + G I)
**   VVI  Sigma_k = diag(lambda + diag(B_k)) / (nu + n_k + 2 + I)
**   VII  sigma2_k = (lambda + tr B_k) / (nu + p n_k + 2 + p I)
**   EEI  Sigma   = diag(lambda + diag(sum_k B_k)) / (nu + n + 2 + G I)
**   EII  sigma2  = sum_k [sum_i z_ik |x_i - mean_k|^2 + c_k |xbar_k - mu_P|^2]
**                  / (nu + p n + 2 + p G I)     (scale lambda NOT used;
**                  residuals about the SHRUNK mean)
**   me() / Mclust() (path 1) differ only in:
**   VVV  divisor nu + n_k + p + 2 whatever kappa
**   EEI  divisor nu + n + 1 + I
**   EII  sigma2 = sum_k tr B_k / (nu + (n + G) p + 2)  (about xbar_k; no scale)
** Checked against mclust on random soft z (faithful and iris, G = 1..4,
** shrinkage 0.01, 0, 1, 5): worst relative difference ", sprintf("%.1e", worst_ms),
" (mstep),\n** ", sprintf("%.1e", worst_me), " (me).
** loglik = sum_i log sum_k pro_k N(x_i | mean_k, Sigma_k): the plain
** log-likelihood at the MAP parameters, no prior term.
**
** prior_cases: from z = unmap(labels): path 0 = mstep, then 50 x (estep,
** mstep), then estep (n_mstep = 51 M-steps); the estep's loglik and z and
** the last mstep's parameters are recorded; first_* is the first M-step
** from the hard labels (path 1: me()'s first M-step). path 1 (EEI, EII
** only) = me(model, x, z = unmap(labels), prior = priorControl(),
** control = emControl(tol = 0, itmax = 51)): n_mstep (M-step, E-step)
** pairs with me()'s M-step (fewer than 51 if the loglik stopped changing
** exactly); loglik and z are its last E-step's, at the returned
** parameters. For VVV, EEE, VVI, VII the me() path
** equals path 0 to the relative difference me_diff (not emitted separately).
**
** Reference: Mclust(faithful, G = 3, modelNames = \"EEE\", prior =
** priorControl()) (me() from hc start, default tol 1e-5):
** prior_mclust_faithful_eee3_loglik / _bic. Note Mclust's $parameters are one
** M-step further than its $loglik (they are mstep() of its $z): estep() at
** $parameters gives ",
sprintf("%.10f", mc_est), ".
*/
#ifndef GMM_PRIOR_FIXTURES_H
#define GMM_PRIOR_FIXTURES_H

typedef struct prior_case {
  const char *data;          /* \"faithful\" or \"iris\" */
  const char *model;         /* VVV EEE VVI VII EII EEI */
  int n, d, k;
  int path;                  /* 0 mstep()/estep() loop, 1 me() */
  int n_mstep;               /* M-steps from the labels (51) */
  const double *x;           /* n*d row-major (bayes_fixtures.h) */
  const int *labels;         /* n, 0-based (bayes_fixtures.h) */
  double shrinkage;          /* kappa */
  const double *prior_mean;  /* d */
  double dof;                /* nu_P */
  int scale_len;             /* d*d (VVV, EEE) or 1 */
  const double *scale;       /* Lambda_P, d*d or scalar */
  const double *first_pro;   /* k: M-step from the hard labels */
  const double *first_mean;  /* k*d */
  const double *first_sigma; /* k*d*d, each component's full covariance */
  double loglik;             /* final E-step's log-likelihood */
  const double *pro;         /* k */
  const double *mean;        /* k*d row-major */
  const double *sigma;       /* k*d*d row-major, full covariance per component */
  const double *z;           /* n*k row-major, final E-step */
  double me_diff;            /* path 0: max rel. difference of me()'s fit (0 if not checked) */
} prior_case;

")
xname <- c(faithful = "bayes_faithful_x", iris = "bayes_iris_x")
lname <- c(faithful = "bayes_faithful_k4_labels", iris = "bayes_iris_k3_labels")
for (i in seq_along(cases)) {
  cs <- cases[[i]]; p <- sprintf("prior_c%d_", i - 1)
  emit(sprintf("/* %s %s, path %d */\n", cs$ds, cs$model, cs$path))
  emit_doubles(paste0(p, "prior_mean"), cs$pr$mean, cs$d)
  emit_doubles(paste0(p, "scale"), cs$pr$scale, cs$d)
  emit_doubles(paste0(p, "first_pro"), cs$first$pro, cs$k)
  emit_doubles(paste0(p, "first_mean"), rowmajor_mean(cs$first$mean), cs$d)
  emit_doubles(paste0(p, "first_sigma"), rowmajor_sigma(cs$first$variance$sigma), cs$d)
  emit_doubles(paste0(p, "pro"), cs$pro, cs$k)
  emit_doubles(paste0(p, "mean"), rowmajor_mean(cs$mean), cs$d)
  emit_doubles(paste0(p, "sigma"), rowmajor_sigma(cs$sigma), cs$d)
  emit_doubles(paste0(p, "z"), rowmajor_z(cs$z), cs$k)
}
emit("\nstatic const prior_case prior_cases[] = {\n")
for (i in seq_along(cases)) {
  cs <- cases[[i]]; p <- sprintf("prior_c%d_", i - 1)
  emit(sprintf("  {\"%s\", \"%s\", %d, %d, %d, %d, %d, %s, %s,\n   %s, %sprior_mean, %s, %d, %sscale,\n   %sfirst_pro, %sfirst_mean, %sfirst_sigma,\n   %s, %spro, %smean, %ssigma, %sz, %s},\n",
               cs$ds, cs$model, cs$n, cs$d, cs$k, cs$path, cs$n_mstep, xname[cs$ds], lname[cs$ds],
               fmt(cs$pr$shrinkage), p, fmt(cs$pr$dof), length(cs$pr$scale), p, p, p, p,
               fmt(cs$loglik), p, p, p, p, if (is.null(cs$me_diff)) "0" else sprintf("%.3g", cs$me_diff)))
}
emit("};\n#define PRIOR_N_CASES ", length(cases), "\n\n")
emit("/* Mclust(faithful, G = 3, modelNames = \"EEE\", prior = priorControl()) */\n")
emit("static const double prior_mclust_faithful_eee3_loglik = ", fmt(mc$loglik), ";\n")
emit("static const double prior_mclust_faithful_eee3_bic = ", fmt(mc$bic), ";\n")
emit("static const int prior_mclust_faithful_eee3_df = ", nMclustParams("EEE", 2, 3), ";\n")
emit("\n#endif /* GMM_PRIOR_FIXTURES_H */\n")
if (length(out_arg) >= 1) close(out_con)
