/* A sieve of Eratosthenes up to the number read from stdin; prints the count and the last primes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  unsigned limit = 0;
  if (scanf("%u", &limit) != 1 || limit < 2) return puts("need a limit of at least 2"), 0;
  unsigned char *composite = calloc(limit + 1, 1);
  unsigned count = 0, last[8] = {0};
  for (unsigned n = 2; n <= limit; n++) {
    if (composite[n]) continue;
    last[count++ % 8] = n;
    for (unsigned long m = (unsigned long)n * n; m <= limit; m += n) composite[m] = 1;
  }
  printf("%u primes up to %u; the last:", count, limit);
  for (unsigned i = 0; i < 8 && i < count; i++) printf(" %u", last[(count + i) % 8]);
  putchar('\n');
  free(composite);
  return 0;
}
