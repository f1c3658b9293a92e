/*
** gmm_tile_narrow.c -- the blocked E+M kernel of gmm_tile.c built with
** 2-lane vectors, the width of SSE2 and NEON registers: the baseline that
** runs where AVX2 is missing (and on every other architecture). GCC keeps
** 4-lane vectors in memory on such targets, several times slower.
*/
#define GMM_TILE_LANES 2
#include "gmm_tile.c"
