#!/usr/bin/env Rscript
# make_mclust_fixtures.R -- oracle fixtures from R's mclust for the fourteen
# covariance models (Celeux & Govaert 1995), read by tests/test_mclust_oracle.c.
#
# Usage (from anywhere; the header goes to stdout, or to the file named):
#   Rscript tests/oracle/make_mclust_fixtures.R > tests/oracle/mclust_fixtures.h
#   Rscript tests/oracle/make_mclust_fixtures.R tests/oracle/mclust_fixtures.h
# Progress and convergence diagnostics go to stderr. Needs mclust 6.0.0
# (Debian r-cran-mclust); about a minute and a half.
#
# For each data set, each of the 14 models and k = 2, 3, 4:
#
#   1. The start is mclust's own: labels = hclass(hc(X, "VVV", use = "SVD"), k),
#      the partition Mclust() starts every model of that k from (mclustBIC
#      builds one tree with mclust.options("hcModelName", "hcUse") = "VVV",
#      "SVD"; note that hc()'s own default is use = "VARS").
#   2. EM from that partition, as mclustBIC runs it: me(M, X, z = unmap(labels))
#      with control = emControl(tol = c(1e-14, TOL_INNER), itmax = c(Inf,
#      ITMAX_INNER)). me() starts with an M-step from the hard labels; each
#      iteration is M-step, E-step, log-likelihood; it stops when
#      |l_t - l_{t-1}| / (1 + |l_t|) <= tol[1]. Its loglik, z and parameters
#      are consistent: the loglik and z are the E-step of the returned
#      parameters. Recorded as mclust_iter and mclust_loglik.
#   3. No log-likelihood tolerance makes that the EM fixed point: near it the
#      log-likelihood is flat (quadratic in the parameters), so once it stops
#      changing in its 13th-16th digit the parameters still move by 1e-9 to
#      1e-5 per iteration (EM converges linearly, rates up to 0.985 here).
#      So EM is continued one iteration at a time (me() with itmax 1: the
#      loop's next iteration, an M-step from the last z; bit for bit for the
#      closed forms and VEE, whose inner loop restarts every M-step, to
#      rounding for VEI and VEV; for EVE and VVE the Fortran routine is
#      called directly with the last orientation and shapes, the warm start
#      me() itself keeps between iterations and would otherwise reset to D =
#      I, A = 1) until the parameters stop moving: the relative step (the
#      test's measure below) is below 1e-15, or has not decreased for 50
#      iterations (rounding noise, below 1e-12). The parameters, loglik, z,
#      BIC and ICL recorded are those of that fixed point; fp_iter counts the
#      EM iterations from the labels to it.
#   4. Recorded: loglik; pro (k); mean (k x d row-major; R's is d x k); sigma
#      (each component's full d x d covariance, k x d x d row-major; R's is
#      d x d x k); n_parameters = nMclustParams(M, d, k); BIC = bic() =
#      2 loglik - n_parameters ln n (mclust's sign: higher is better); ICL =
#      BIC + 2 sum_i ln max_j z_ij, on the z of the fit (mclust's
#      icl.Mclust, checked below against mclust's own icl on an Mclust
#      object); labels 0-based.
#   Cases where mclust returns NA (singular covariance, vanishing
#   component) are skipped and listed in the header.
#
# Inner iterations: VEI, VEE, VEV (alternating scale / shape, or scale /
# matrix C, Celeux & Govaert p. 785) and EVE, VVE (MM algorithms of Browne &
# McNicholas) stop on the relative change of their target <= tol[2]; tol[2] =
# 1e-14 and itmax[2] = 1e5 here (mclust's default is sqrt(eps)).
#
# How exact mclust's M-steps are (checked below, figures in the header):
#   - VEI, VEV: the inner loop restarts every M-step and converges to
#     rounding; EVE: its MM loop is warm-started, so at the fixed point its
#     orientation is a stationary point of the exact M-step objective.
#   - VEE: the inner loop (alternating lambda_k and C, restarted at lambda =
#     1 every M-step) stops on the relative change of its target, which is
#     quadratic in the parameters' error: even at tol[2] = 1e-14 the M-step
#     is off by up to ~2e-7 (relative, the test's measure), and with tol[2] =
#     0 the stop becomes rounding noise and EM no longer settles. Kept at
#     1e-14; the check below runs EM with an exact VEE M-step (the same
#     alternation iterated until lambda stops moving) from mclust's fixed
#     point and reports the distance: a few 1e-7 at most, within the C test's
#     1e-6, with the same log-likelihood to 1e-15.
#   - VVE is not maximum likelihood: its MM steps for the common orientation
#     D minimise sum_k tr(W_k D A_k^-1 D') without the 1/lambda_k weights of
#     the VVE likelihood (the shapes are normalised to det 1 before MM 1 and
#     MM 2 use them), so its M-step does not maximise the expected
#     complete-data log-likelihood, and its EM log-likelihood is not
#     monotone (it falls by up to 3.5e-5 on diabetes, k = 4, between tol
#     1e-10 and 1e-14). The check below finds, on faithful (d = 2, one
#     angle), the orientation that minimises the exact profile objective
#     sum_k n_k ln det diag(D' W_k D) at mclust's fixed point: mclust's is
#     ~1.3e-3 rad away. The VVE fixtures are mclust's fixed point all the
#     same; the header flags them (exact_mstep = 0). For an exact core the
#     header also carries VVE on faithful by EM with an exact M-step
#     (mclust_vve_exact_cases, below): not mclust, but the oracle VVE can
#     be held to.
#
# Selection: Mclust(faithful) with the default control and with tight
# tolerances: the chosen model, G, its BIC, loglik and ICL, and the full
# 9 x 14 BIC table (G = 1..9 by mclust's model order; NA -> NAN).

suppressPackageStartupMessages(library(mclust))
stopifnot(packageVersion("mclust") == "6.0.0")

out_arg <- commandArgs(trailingOnly = TRUE)
out_con <- if (length(out_arg) >= 1) file(out_arg[1], "w") else stdout()
emit <- function(...) cat(..., sep = "", file = out_con)
note <- function(...) cat(..., "\n", sep = "", file = stderr())

TOL_OUTER <- 1e-14
TOL_INNER <- 1e-14
ITMAX_INNER <- 100000L
MAX_REFINE <- 200000L

models <- mclust.options("emModelNames")  # EII VII EEI VEI EVI VVI EEE VEE EVE VVE EEV VEV EVV VVV
stopifnot(length(models) == 14)
data(diabetes, package = "mclust", envir = environment())
sets <- list(
  faithful = list(x = as.matrix(datasets::faithful), what = "faithful"),
  iris = list(x = as.matrix(datasets::iris[, 1:4]), what = "iris"),
  diabetes = list(x = as.matrix(diabetes[, c("glucose", "insulin", "sspg")]), what = "diabetes")
)
stopifnot(dim(sets$faithful$x) == c(272, 2), dim(sets$iris$x) == c(150, 4),
          dim(sets$diabetes$x) == c(145, 3))

ctl <- function(tol_outer, itmax_outer)
  emControl(tol = c(tol_outer, TOL_INNER), itmax = c(itmax_outer, ITMAX_INNER))

# The parameters of a fit in the C layout.
params <- function(f) {
  p <- f$parameters
  G <- length(p$pro)
  d <- nrow(p$mean)
  sigma <- array(p$variance$sigma, c(d, d, G))
  list(pro = p$pro, mean = as.vector(p$mean),  # column j = component j: k x d row-major
       sigma = as.vector(aperm(sigma, c(2, 1, 3))),  # symmetric anyway; k x d x d row-major
       sigma_arr = sigma)
}

# The largest relative difference between two fits, as the C test measures
# it: weights relative to themselves, means relative to the component's
# standard deviation along that feature, covariance (p, q) relative to
# sqrt(S_pp S_qq) of that component (of b).
rel_step <- function(a, b) {
  pa <- params(a); pb <- params(b)
  G <- length(pb$pro); d <- nrow(b$parameters$mean)
  e <- max(abs(pa$pro - pb$pro) / pb$pro)
  for (j in 1:G) {
    s <- sqrt(diag(as.matrix(pb$sigma_arr[, , j])))
    e <- max(e, abs(a$parameters$mean[, j] - b$parameters$mean[, j]) / s,
             abs(pa$sigma_arr[, , j] - pb$sigma_arr[, , j]) / outer(s, s))
  }
  e
}

# One more EM iteration from fit f: an M-step from f$z, an E-step. For EVE
# and VVE the Fortran loop is entered with f's orientation and shapes, as
# me() keeps them from one iteration to the next (meEVE/meVVE would restart
# them at D = I, A = 1).
em_step <- function(M, X, f) {
  if (!(M %in% c("EVE", "VVE")))
    return(suppressWarnings(me(modelName = M, data = X, z = f$z, control = ctl(0, 1L))))
  n <- nrow(X); p <- ncol(X); G <- ncol(f$z)
  v <- f$parameters$variance
  lwork <- max(3 * min(n, p) + max(n, p), 5 * min(n, p), p + G)
  temp <- .Fortran(if (M == "EVE") "meeve" else "mevve",
    x = as.double(X), z = as.double(f$z), n = as.integer(n), p = as.integer(p),
    G = as.integer(G), Gnoise = as.integer(G), mu = double(p * G),
    O = as.double(t(v$orientation)), U = double(p * p * G),
    scale = if (M == "EVE") double(1) else as.double(v$scale),
    shape = as.double(v$shape), pro = double(G), Vinv = as.double(-1),
    loglik = double(1), eqpro = FALSE, itmaxin = ITMAX_INNER, tolin = as.double(TOL_INNER),
    itmaxout = 1L, tolout = 0, eps = as.double(.Machine$double.eps),
    niterin = integer(1), errin = double(1), niterout = integer(1), errout = double(1),
    lwork = as.integer(lwork), info = as.integer(0), PACKAGE = "mclust")
  if (temp$info != 0 || !is.finite(temp$loglik) || abs(temp$loglik) > 1e300)
    stop(M, ": the continued EM failed")
  O <- t(matrix(temp$O, p, p))
  shape <- matrix(temp$shape, p, G)
  scale <- if (M == "EVE") rep(temp$scale, G) else temp$scale
  sigma <- array(sapply(1:G, function(j) scale[j] * O %*% diag(shape[, j]) %*% t(O)), c(p, p, G))
  list(z = matrix(temp$z, n, G), loglik = temp$loglik, niterin = temp$niterin,
       parameters = list(pro = temp$pro, mean = matrix(temp$mu, p, G),
                         variance = list(sigma = sigma, orientation = O, shape = shape,
                                         scale = temp$scale)))
}

icl_of <- function(bic_value, z) bic_value + 2 * sum(log(apply(z, 1, max)))

fmt <- function(v) sprintf("%.17g", v)
# A sentence as "**   - " comment lines of at most 80 columns.
comment_lines <- function(text) {
  w <- strwrap(text, width = 72)
  paste0(c(paste0("**   - ", w[1]), if (length(w) > 1) paste0("**     ", w[-1])), "\n", collapse = "")
}
emit_doubles <- function(name, v, per_line) {
  s <- fmt(v)
  stopifnot(all(is.finite(v)), all(as.numeric(s) == v))
  lines <- split(s, ceiling(seq_along(s) / per_line))
  emit("static const double ", name, "[", length(v), "] = {\n")
  emit(paste0("  ", vapply(lines, paste, "", collapse = ", "), collapse = ",\n"), "\n};\n")
}
emit_ints <- function(name, v, per_line = 30) {
  lines <- split(as.integer(v), ceiling(seq_along(v) / per_line))
  emit("static const int ", name, "[", length(v), "] = {\n")
  emit(paste0("  ", vapply(lines, paste, "", collapse = ","), collapse = ",\n"), "\n};\n")
}

# ---- the fits ----------------------------------------------------------

cases <- list()
skipped <- character()
labels <- list()
for (ds in names(sets)) {
  X <- sets[[ds]]$x
  n <- nrow(X); d <- ncol(X)
  tree <- hc(X, modelName = "VVV", use = "SVD")
  for (k in 2:4) {
    lab <- as.vector(hclass(tree, k))
    stopifnot(length(lab) == n, sort(unique(lab)) == 1:k)
    labels[[paste0(ds, "_k", k)]] <- lab - 1L
    z0 <- unmap(lab)
    for (M in models) {
      t0 <- proc.time()[[3]]
      f <- suppressWarnings(me(modelName = M, data = X, z = z0, control = ctl(TOL_OUTER, .Machine$integer.max)))
      if (is.na(f$loglik) || attr(f, "returnCode") < 0) {
        skipped <- c(skipped, sprintf("%s %s k=%d: %s", ds, M, k, attr(f, "WARNING")))
        note(sprintf("%-8s %s k=%d: NA (%s), skipped", ds, M, k, attr(f, "WARNING")))
        next
      }
      mclust_iter <- as.numeric(unlist(attr(f, "info"))[1])
      stopifnot(mclust_iter > 0)
      mclust_loglik <- f$loglik
      # check: the loglik is that of the returned parameters
      ll_check <- sum(log(dens(modelName = M, data = X, parameters = f$parameters)))
      stopifnot(abs(ll_check - f$loglik) <= 1e-9 * abs(f$loglik))
      # continue EM to the fixed point
      f_me <- f
      steps <- 0L; best <- Inf; since_best <- 0L; last <- NA
      repeat {
        g <- em_step(M, X, f)
        steps <- steps + 1L
        last <- rel_step(g, f)
        f <- g
        if (last < best) { best <- last; since_best <- 0L } else since_best <- since_best + 1L
        if (last < 1e-15) break
        if (since_best >= 50L && best < 1e-12) break
        if (steps >= MAX_REFINE) stop(sprintf("%s %s k=%d: no fixed point after %d iterations (step %.3g)",
                                              ds, M, k, steps, last))
      }
      pp <- params(f)
      npar <- nMclustParams(M, d, k)
      bic_value <- bic(M, f$loglik, n, d, k)
      stopifnot(abs(bic_value - (2 * f$loglik - npar * log(n))) < 1e-9 * abs(bic_value))
      icl_value <- icl_of(bic_value, f$z)
      note(sprintf("%-8s %s k=%d: me %5d it, loglik %.10f; fixed point +%5d it, loglik %+.2e from me's, params %.1e from me's, last step %.1e (%.1fs)",
                   ds, M, k, mclust_iter, mclust_loglik, steps, f$loglik - mclust_loglik,
                   rel_step(f_me, f), last, proc.time()[[3]] - t0))
      cases[[length(cases) + 1]] <- list(
        ds = ds, model = M, k = k, n = n, d = d, mclust_iter = mclust_iter,
        mclust_loglik = mclust_loglik, fp_iter = mclust_iter + steps, last_step = last,
        loglik = f$loglik, npar = npar, bic = bic_value, icl = icl_value,
        pro = pp$pro, mean = pp$mean, sigma = pp$sigma, z = f$z,
        orientation = f$parameters$variance$orientation)
    }
  }
}

# ---- how exact mclust's VEE and VVE are ----------------------------------

scatter <- function(X, z) {
  nk <- colSums(z)
  mu <- sapply(seq_along(nk), function(j) colSums(z[, j] * X) / nk[j])
  list(nk = nk, mu = mu, W = lapply(seq_along(nk), function(j) {
    Y <- sweep(X, 2, mu[, j]); crossprod(Y * sqrt(z[, j])) }))
}
vee_exact_mstep <- function(X, z) {
  s <- scatter(X, z); G <- length(s$nk); p <- ncol(X); lam <- rep(1, G)
  for (it in 1:100000) {
    C <- Reduce(`+`, lapply(1:G, function(j) s$W[[j]] / lam[j])); C <- C / det(C)^(1 / p)
    Ci <- solve(C)
    new <- sapply(1:G, function(j) sum(diag(s$W[[j]] %*% Ci)) / (p * s$nk[j]))
    change <- max(abs(new - lam) / new); lam <- new
    if (change < 1e-15) break
  }
  list(pro = s$nk / nrow(X), mean = s$mu,
       sigma = array(unlist(lapply(1:G, function(j) lam[j] * C)), c(p, p, G)))
}
estep_plain <- function(X, par) {
  G <- length(par$pro)
  L <- sapply(1:G, function(j) {
    R <- chol(par$sigma[, , j]); Y <- backsolve(R, t(X) - par$mean[, j], transpose = TRUE)
    log(par$pro[j]) - 0.5 * colSums(Y^2) - sum(log(diag(R))) - ncol(X) / 2 * log(2 * pi) })
  m <- apply(L, 1, max); s <- m + log(rowSums(exp(L - m)))
  list(z = exp(L - s), loglik = sum(s))
}
vee_worst <- 0; vee_worst_ll <- 0
for (cs in cases) if (cs$model == "VEE") {
  X <- sets[[cs$ds]]$x
  z <- cs$z; prev <- NULL
  for (i in 1:20000) {
    par <- vee_exact_mstep(X, z); e <- estep_plain(X, par); z <- e$z
    fit <- list(parameters = list(pro = par$pro, mean = par$mean, variance = list(sigma = par$sigma)))
    if (!is.null(prev) && rel_step(fit, prev) < 1e-15) break
    prev <- fit
  }
  mine <- list(parameters = list(pro = cs$pro, mean = matrix(cs$mean, cs$d),
                                 variance = list(sigma = array(cs$sigma, c(cs$d, cs$d, cs$k)))))
  dist <- rel_step(mine, fit)
  vee_worst <- max(vee_worst, dist)
  vee_worst_ll <- max(vee_worst_ll, abs(e$loglik - cs$loglik) / abs(e$loglik))
  note(sprintf("%-8s VEE k=%d: mclust's fixed point is %.2e from the exact-M-step EM fixed point (loglik %.1e relative)",
               cs$ds, cs$k, dist, (e$loglik - cs$loglik) / abs(e$loglik)))
}
vee_check <- sprintf("VEE: mclust's fixed points are at most %.2e (relative, the test's measure) from EM with an exact M-step; loglik within %.1e relative",
                     vee_worst, vee_worst_ll)
note(vee_check)
vve_worst <- 0
for (cs in cases) if (cs$model == "VVE" && cs$d == 2) {
  s <- scatter(sets[[cs$ds]]$x, cs$z)
  rot <- function(th) matrix(c(cos(th), sin(th), -sin(th), cos(th)), 2)
  obj <- function(th) sum(sapply(1:cs$k, function(j) s$nk[j] * log(prod(diag(t(rot(th)) %*% s$W[[j]] %*% rot(th))))))
  th <- atan2(cs$orientation[2, 1], cs$orientation[1, 1])
  o <- optimize(obj, c(th - 0.1, th + 0.1), tol = 1e-12)
  vve_worst <- max(vve_worst, abs(o$minimum - th))
  note(sprintf("%-8s VVE k=%d: mclust's orientation is %.2e rad from the exact M-step's (profile objective %.6g vs %.6g)",
               cs$ds, cs$k, abs(o$minimum - th), obj(th), o$objective))
}
vve_check <- sprintf("VVE on faithful: mclust's common orientation is up to %.1e rad from the exact M-step's at its fixed point", vve_worst)
note(vve_check)

# ---- exact VVE on faithful (d = 2) ----------------------------------------
# Not mclust: EM with the exact VVE M-step, from the same labels, so that an
# exact core has an oracle for VVE too. With d = 2 the common orientation is
# one angle theta, D = [cos -sin; sin cos]; given the scatters W_k and masses
# n_k the M-step maximises the expected complete-data log-likelihood by
# minimising the profile f(theta) = sum_k n_k ln(a_k b_k), with a_k, b_k the
# diagonal of D' W_k D (then A_k lambda_k = diag(D' W_k D) / n_k). theta is
# the global minimiser: a grid of 2000 steps over [0, pi/2] (f has period
# pi/2), then the root of f' (analytic) in the bracketing cell by uniroot
# to 1e-15.

vve2_mstep <- function(X, z) {
  s <- scatter(X, z); G <- length(s$nk)
  f <- function(th) {
    tot <- 0
    for (j in 1:G) {
      w <- s$W[[j]]; c <- cos(th); sn <- sin(th)
      a <- c^2 * w[1, 1] + 2 * c * sn * w[1, 2] + sn^2 * w[2, 2]
      tot <- tot + s$nk[j] * log(a * (w[1, 1] + w[2, 2] - a))
    }
    tot
  }
  fprime <- function(th) {
    tot <- 0
    for (j in 1:G) {
      w <- s$W[[j]]; c <- cos(th); sn <- sin(th)
      a <- c^2 * w[1, 1] + 2 * c * sn * w[1, 2] + sn^2 * w[2, 2]
      da <- (w[2, 2] - w[1, 1]) * sin(2 * th) + 2 * w[1, 2] * cos(2 * th)
      tot <- tot + s$nk[j] * da * (1 / a - 1 / (w[1, 1] + w[2, 2] - a))
    }
    tot
  }
  h <- pi / 2 / 2000
  grid <- seq(0, pi / 2, by = h)
  th0 <- grid[which.min(f(grid))]
  th <- uniroot(fprime, c(th0 - h, th0 + h), tol = 1e-15, maxiter = 1000)$root
  D <- matrix(c(cos(th), sin(th), -sin(th), cos(th)), 2)
  sigma <- array(unlist(lapply(1:G, function(j)
    D %*% diag(diag(t(D) %*% s$W[[j]] %*% D) / s$nk[j]) %*% t(D))), c(2, 2, G))
  list(parameters = list(pro = s$nk / nrow(X), mean = s$mu, variance = list(sigma = sigma)))
}
vve_exact <- list()
for (k in 2:4) {
  X <- sets$faithful$x
  z <- unmap(labels[[paste0("faithful_k", k)]] + 1L)
  prev <- NULL; best <- Inf; since_best <- 0L
  for (it in 1:100000) {
    fit <- vve2_mstep(X, z)
    e <- estep_plain(X, list(pro = fit$parameters$pro, mean = fit$parameters$mean,
                             sigma = fit$parameters$variance$sigma))
    z <- e$z
    if (!is.null(prev)) {
      step <- rel_step(fit, prev)
      if (step < best) { best <- step; since_best <- 0L } else since_best <- since_best + 1L
      if (step < 1e-15 || (since_best >= 50L && best < 1e-12)) break
    }
    prev <- fit
  }
  stopifnot(it < 100000)
  npar <- nMclustParams("VVE", 2, k)
  b <- 2 * e$loglik - npar * log(nrow(X))
  pp <- params(fit)
  mc <- Filter(function(cs) cs$ds == "faithful" && cs$model == "VVE" && cs$k == k, cases)[[1]]
  note(sprintf("faithful VVE k=%d, exact M-step: loglik %.10f after %d iterations (mclust's %.10f)",
               k, e$loglik, it, mc$loglik))
  vve_exact[[length(vve_exact) + 1]] <- list(
    ds = "faithful", model = "VVE", k = k, n = nrow(X), d = 2, mclust_iter = 0, mclust_loglik = mc$loglik,
    fp_iter = it, loglik = e$loglik, npar = npar, bic = b, icl = icl_of(b, z),
    pro = pp$pro, mean = pp$mean, sigma = pp$sigma)
}

# ---- checks against mclust's own front end ------------------------------

# Mclust(X, G = k, modelNames = M) with the same control starts from the
# same partition and runs the same me(): the same loglik, to the bit.
for (cs in cases) {
  m <- suppressWarnings(Mclust(sets[[cs$ds]]$x, G = cs$k, modelNames = cs$model,
                               control = ctl(TOL_OUTER, .Machine$integer.max), verbose = FALSE))
  if (!identical(m$loglik, cs$mclust_loglik))
    stop(sprintf("%s %s k=%d: Mclust's loglik %.17g, me's %.17g", cs$ds, cs$model, cs$k,
                 m$loglik, cs$mclust_loglik))
}
front_check <- "Mclust(X, G = k, modelNames = M) with the same control reproduces every me() loglik bit for bit (so the labels are Mclust's start)"
note(front_check)

# ICL: icl.Mclust is the Mclust object's bic + 2 sum_i log z_i,map(i), on its z.
m <- Mclust(sets$faithful$x, G = 3, modelNames = "EEE", verbose = FALSE)
stopifnot(abs(icl(m) - icl_of(m$bic, m$z)) < 1e-9 * abs(icl(m)), abs(m$icl - icl(m)) < 1e-9 * abs(icl(m)))
icl_check <- sprintf("ICL: on Mclust(faithful, G = 3, modelNames = \"EEE\"), mclust::icl gives %.10f and BIC + 2 sum_i ln max_j z_ij %.10f",
                     icl(m), icl_of(m$bic, m$z))
note(icl_check)

# ---- selection on faithful -----------------------------------------------

selection <- function(label, control) {
  m <- Mclust(sets$faithful$x, control = control, verbose = FALSE)
  B <- m$BIC
  stopifnot(identical(dimnames(B)[[2]], models), identical(dimnames(B)[[1]], as.character(1:9)))
  top <- pickBIC(B, k = 3)
  list(label = label, model = m$modelName, G = m$G, bic = m$bic, loglik = m$loglik, icl = m$icl,
       table = as.vector(t(unclass(B)[, models])),  # 9 x 14 row-major, G = 1..9
       top = sprintf("%s %.6f", names(top), top))
}
sel <- list(
  selection("default", emControl()),
  selection("tight", ctl(TOL_OUTER, .Machine$integer.max)))
for (s in sel) note(sprintf("Mclust(faithful), %s control: %s,%d BIC %.6f (top 3: %s)", s$label,
                            s$model, s$G, s$bic, paste(s$top, collapse = "; ")))

# ---- the header -----------------------------------------------------------

versions <- sprintf("mclust %s, %s", packageVersion("mclust"), R.version.string)
emit("/*
** mclust_fixtures.h -- GENERATED FILE, DO NOT EDIT.
**
** Generated by tests/oracle/make_mclust_fixtures.R with
** ", versions, ".
** Regenerate with
**
**     Rscript tests/oracle/make_mclust_fixtures.R > tests/oracle/mclust_fixtures.h
**
** Read by tests/test_mclust_oracle.c. Oracles from R's mclust for the
** fourteen covariance models (Celeux, G. and Govaert, G. (1995) Gaussian
** parsimonious clustering models. Pattern Recognition 28, 781-793;
** Scrucca, L., Fop, M., Murphy, T. B. and Raftery, A. E. (2016) mclust 5:
** clustering, classification and density estimation using Gaussian finite
** mixture models. The R Journal 8(1), 289-317), k = 2, 3, 4, on three data
** sets:
**
**   faithful  R datasets::faithful, Old Faithful geyser: eruption time and
**             waiting time to the next eruption (minutes), 272 x 2.
**             Haerdle, W. (1991) Smoothing Techniques with Implementation in
**             S. Springer; Azzalini, A. and Bowman, A. W. (1990) A look at
**             some data on the Old Faithful geyser. Applied Statistics 39,
**             357-365.
**   iris      R datasets::iris[, 1:4], sepal and petal length and width
**             (cm), 150 x 4. Anderson, E. (1935) The irises of the Gaspe
**             Peninsula. Bulletin of the American Iris Society 59, 2-5;
**             Fisher, R. A. (1936) The use of multiple measurements in
**             taxonomic problems. Annals of Eugenics 7, 179-188.
**   diabetes  mclust's diabetes[, c(\"glucose\", \"insulin\", \"sspg\")], 145 x 3
**             (mclust's copy, which its help page calls flawed in one
**             entry; here it is only data). Reaven, G. M. and Miller, R. G.
**             (1979) An attempt to define the nature of chemical diabetes
**             using a multidimensional analysis. Diabetologia 16, 17-24.
**
** Each case: the start labels = hclass(hc(X, \"VVV\", use = \"SVD\"), k) - 1
** (Mclust's start for every model of that k); mclust's EM from them,
** me(M, X, unmap(labels), emControl(tol = c(1e-14, 1e-14), itmax = c(Inf,
** 1e5))): mclust_iter iterations, mclust_loglik; then EM continued one
** iteration at a time to its fixed point (relative parameter step below
** 1e-15 or at rounding noise): fp_iter iterations from the labels in all,
** and the loglik, pro, mean, sigma, BIC and ICL there. The generator's
** comment says why the log-likelihood tolerance alone is not enough.
**
** Conventions (mclust's): BIC = 2 loglik - n_parameters ln n and ICL = BIC +
** 2 sum_i ln max_j z_ij, higher is better (the core's gmm_model_bic and
** gmm_model_icl are their negatives); n_parameters = nMclustParams(M, d, k);
** mean is k x d row-major, sigma k x d x d row-major (each component's full
** covariance, whatever the model); labels are 0-based.
**
** exact_mstep = 0 marks VVE: mclust's VVE M-step is not the maximiser of the
** expected complete-data log-likelihood (its MM steps for the common
** orientation leave out the 1/lambda_k weights), so its fixed point is not
** a stationary point of the likelihood; it is mclust's all the same.
** mclust_vve_exact_cases (at the end) hold, for faithful, the fixed point of
** EM with the exact VVE M-step from the same labels, computed here.
** mclust's VEE M-step stops its inner loop on the change of its target, so
** it is exact only to a few 1e-7.
**
** Checks made by the generator in this run:
", comment_lines(front_check), comment_lines(icl_check), comment_lines(vve_check),
comment_lines(vee_check), "**
** Doubles are printed with sprintf(\"%.17g\"), which round-trips.
")
if (length(skipped)) {
  emit("**\n** Skipped (mclust returns NA):\n")
  for (s in skipped) emit("**   ", s, "\n")
} else {
  emit("**\n** No case was skipped: mclust fits every one (no NA).\n")
}
emit("*/
#ifndef GMM_MCLUST_FIXTURES_H
#define GMM_MCLUST_FIXTURES_H

#include <math.h>
#include <stddef.h>

typedef struct mclust_case {
  const char *data_name; /* faithful, iris, diabetes */
  const char *model;     /* mclust's name, as gmm_cov_type_from_name takes it */
  int n, d, k;
  const double *x;       /* n x d row-major */
  const int *labels;     /* n start labels in 0 .. k - 1 */
  int exact_mstep;       /* 0: mclust's M-step is not exact (VVE) */
  int mclust_iter;       /* me() iterations at tol 1e-14 */
  double mclust_loglik;  /* me()'s loglik there */
  int fp_iter;           /* EM iterations from the labels to the fixed point */
  double loglik;         /* at the fixed point, as everything below */
  int n_parameters;
  double bic, icl;       /* mclust's sign: higher is better */
  const double *pro;     /* k */
  const double *mean;    /* k x d */
  const double *sigma;   /* k x d x d */
} mclust_case;

")
for (ds in names(sets)) {
  X <- sets[[ds]]$x
  emit(sprintf("/* %s: %d rows x %d features (%s), row-major */\n", ds, nrow(X), ncol(X),
               paste(colnames(X), collapse = ", ")))
  emit_doubles(paste0("mclust_", ds, "_x"), as.vector(t(X)), ncol(X))
  emit("\n")
}
for (nm in names(labels)) {
  emit(sprintf("/* hclass(hc(%s, \"VVV\", use = \"SVD\"), %s) - 1 */\n", sub("_k.*", "", nm),
               sub(".*_k", "", nm)))
  emit_ints(paste0("mclust_", nm, "_labels"), labels[[nm]])
  emit("\n")
}
for (i in seq_along(cases)) {
  cs <- cases[[i]]
  emit(sprintf("/* %s %s k=%d */\n", cs$ds, cs$model, cs$k))
  emit_doubles(sprintf("mclust_c%d_pro", i - 1), cs$pro, 4)
  emit_doubles(sprintf("mclust_c%d_mean", i - 1), cs$mean, cs$d)
  emit_doubles(sprintf("mclust_c%d_sigma", i - 1), cs$sigma, cs$d)
}
emit("\nstatic const mclust_case mclust_cases[] = {\n")
for (i in seq_along(cases)) {
  cs <- cases[[i]]
  emit(sprintf("  {\"%s\", \"%s\", %d, %d, %d, mclust_%s_x, mclust_%s_k%d_labels, %d,\n",
               cs$ds, cs$model, cs$n, cs$d, cs$k, cs$ds, cs$ds, cs$k, as.integer(cs$model != "VVE")))
  emit(sprintf("   %d, %s, %d, %s, %d, %s, %s,\n", as.integer(cs$mclust_iter), fmt(cs$mclust_loglik),
               as.integer(cs$fp_iter), fmt(cs$loglik), as.integer(cs$npar), fmt(cs$bic), fmt(cs$icl)))
  emit(sprintf("   mclust_c%d_pro, mclust_c%d_mean, mclust_c%d_sigma},\n", i - 1, i - 1, i - 1))
}
emit("};\n")
emit(sprintf("static const int mclust_n_cases = %d;\n\n", length(cases)))

emit("/* Not mclust: VVE on faithful by EM with the exact VVE M-step (the common
** orientation, one angle for d = 2, minimises sum_k n_k ln det diag(D' W_k D)
** exactly: a grid, then the root of the derivative), from the same labels,
** to its fixed point; the generator's comment has the details. mclust_iter
** is 0 and mclust_loglik is mclust's VVE loglik for the same start. */
")
for (i in seq_along(vve_exact)) {
  cs <- vve_exact[[i]]
  emit_doubles(sprintf("mclust_vve_exact%d_pro", i - 1), cs$pro, 4)
  emit_doubles(sprintf("mclust_vve_exact%d_mean", i - 1), cs$mean, cs$d)
  emit_doubles(sprintf("mclust_vve_exact%d_sigma", i - 1), cs$sigma, cs$d)
}
emit("static const mclust_case mclust_vve_exact_cases[] = {\n")
for (i in seq_along(vve_exact)) {
  cs <- vve_exact[[i]]
  emit(sprintf("  {\"%s\", \"%s\", %d, %d, %d, mclust_%s_x, mclust_%s_k%d_labels, 1,\n",
               cs$ds, cs$model, cs$n, cs$d, cs$k, cs$ds, cs$ds, cs$k))
  emit(sprintf("   0, %s, %d, %s, %d, %s, %s,\n", fmt(cs$mclust_loglik), as.integer(cs$fp_iter),
               fmt(cs$loglik), as.integer(cs$npar), fmt(cs$bic), fmt(cs$icl)))
  emit(sprintf("   mclust_vve_exact%d_pro, mclust_vve_exact%d_mean, mclust_vve_exact%d_sigma},\n", i - 1, i - 1, i - 1))
}
emit("};\n")
emit(sprintf("static const int mclust_n_vve_exact_cases = %d;\n\n", length(vve_exact)))

emit("/* Selection: Mclust(faithful) over G = 1..9 and the 14 models, from one
** hc tree. bic_table is 9 x 14 row-major (row G - 1, column in the order of
** mclust_model_names), mclust's sign, NAN where mclust gives NA. The chosen
** fit's bic, loglik and icl are Mclust's (its re-fit of the best model). */
static const char *const mclust_model_names[14] = {\n  ",
     paste0("\"", models, "\"", collapse = ", "), "\n};\n\n")
emit("typedef struct mclust_selection {
  const char *control; /* \"default\": emControl(); \"tight\": tol = c(1e-14, 1e-14) */
  const char *model;
  int G;
  double bic, loglik, icl;
  const double *bic_table; /* 9 x 14 */
} mclust_selection;

")
for (s in sel) {
  emit(sprintf("/* Mclust(faithful), %s control; top 3: %s */\n", s$label, paste(s$top, collapse = "; ")))
  v <- s$table
  sv <- ifelse(is.na(v), "NAN", sprintf("%.17g", v))
  stopifnot(all(as.numeric(sv[!is.na(v)]) == v[!is.na(v)]))
  emit(sprintf("static const double mclust_faithful_bic_%s[126] = {\n", s$label))
  rows <- split(sv, rep(1:9, each = 14))
  emit(paste0("  ", vapply(rows, paste, "", collapse = ", "), collapse = ",\n"), "\n};\n")
}
emit("static const mclust_selection mclust_faithful_selection[2] = {\n")
for (s in sel)
  emit(sprintf("  {\"%s\", \"%s\", %d, %s, %s, %s, mclust_faithful_bic_%s},\n", s$label, s$model, s$G,
               fmt(s$bic), fmt(s$loglik), fmt(s$icl), s$label))
emit("};\n\n#endif /* GMM_MCLUST_FIXTURES_H */\n")
if (length(out_arg) >= 1) close(out_con)
