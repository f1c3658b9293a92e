/*
** gmm_tile_avx512.c -- the blocked E+M kernel of gmm_tile.c built with
** 8-lane vectors for AVX-512F: one vector per step of 8 rows, where the
** AVX2 copy takes two, so that both give the same bits (tile (3)). Only
** where the kernel is dispatched at run time (x86-64, GCC or Clang).
*/
#include "gmm_internal.h"

#ifdef GMM_TILE_DISPATCH
#define GMM_TILE_LANES 8
#include "gmm_tile.c"
#else
/* ISO C wants a declaration in every translation unit. */
typedef int gmm_tile_avx512_not_built;
#endif
