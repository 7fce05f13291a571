/* Multiplies two generated matrices of doubles, then solves a system by LU decomposition. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(void) {
  int n = 0;
  if (scanf("%d", &n) != 1 || n < 2 || n > 200) return puts("need a size from 2 to 200"), 0;
  double *a = malloc(sizeof(double) * n * n), *b = malloc(sizeof(double) * n * n), *c = calloc((size_t)n * n, sizeof(double));
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      a[i * n + j] = sin(i + 1) * cos(j + 2) + (i == j ? n : 0);
      b[i * n + j] = sqrt((double)(i * n + j + 1)) / n;
    }
  for (int i = 0; i < n; i++)
    for (int k = 0; k < n; k++)
      for (int j = 0; j < n; j++) c[i * n + j] += a[i * n + k] * b[k * n + j];
  double trace = 0, det = 1;
  for (int i = 0; i < n; i++) trace += c[i * n + i];
  /* LU without pivoting on the diagonally dominant a. */
  for (int k = 0; k < n; k++) {
    det *= a[k * n + k];
    for (int i = k + 1; i < n; i++) {
      double f = a[i * n + k] / a[k * n + k];
      for (int j = k; j < n; j++) a[i * n + j] -= f * a[k * n + j];
    }
  }
  printf("n %d trace %.10g log|det| %.10g c[n-1][0] %.10g\n", n, trace, log(fabs(det)), c[(n - 1) * n]);
  return 0;
}
