/* Reads integers from stdin, sorts them with qsort and prints order statistics. */
#include <stdio.h>
#include <stdlib.h>

static int compare(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

int main(void) {
  size_t count = 0, capacity = 16;
  long *values = malloc(capacity * sizeof *values);
  long value;
  while (scanf("%ld", &value) == 1) {
    if (count == capacity) values = realloc(values, (capacity *= 2) * sizeof *values);
    values[count++] = value;
  }
  if (count == 0) return puts("no numbers"), 0;
  qsort(values, count, sizeof *values, compare);
  double sum = 0;
  for (size_t i = 0; i < count; i++) sum += (double)values[i];
  printf("count %zu min %ld max %ld median %ld mean %.6f\n", count, values[0], values[count - 1], values[count / 2], sum / (double)count);
  for (size_t i = 0; i < count; i += count / 10 + 1) printf("%ld%c", values[i], i + count / 10 + 1 < count ? ' ' : '\n');
  free(values);
  return 0;
}
