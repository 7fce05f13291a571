/* Recursion of several shapes: a binary tree built and folded, Ackermann, and mutual recursion. */
#include <stdio.h>
#include <stdlib.h>

struct node { long value; struct node *left, *right; };

static struct node *build(int depth, long seed) {
  if (depth == 0) return NULL;
  struct node *n = malloc(sizeof *n);
  n->value = seed % 1000;
  n->left = build(depth - 1, seed * 31 + 7);
  n->right = build(depth - 1, seed * 17 + 3);
  return n;
}

static long fold(const struct node *n, int level) {
  if (!n) return level;
  return n->value * (level + 1) + fold(n->left, level + 1) - fold(n->right, level + 1);
}

static unsigned long ackermann(unsigned long m, unsigned long n) {
  if (m == 0) return n + 1;
  if (n == 0) return ackermann(m - 1, 1);
  return ackermann(m - 1, ackermann(m, n - 1));
}

static int is_odd(unsigned n);
static int is_even(unsigned n) { return n == 0 ? 1 : is_odd(n - 1); }
static int is_odd(unsigned n) { return n == 0 ? 0 : is_even(n - 1); }

int main(void) {
  int depth = 0;
  if (scanf("%d", &depth) != 1) depth = 12;
  printf("fold %ld\n", fold(build(depth, 1), 0));
  printf("ackermann(2, %d) = %lu, ackermann(3, 5) = %lu\n", depth, ackermann(2, (unsigned long)depth), ackermann(3, 5));
  printf("even(%d) = %d\n", depth * 50, is_even((unsigned)depth * 50));
  return 0;
}
