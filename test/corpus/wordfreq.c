/* Counts words (letters only, case-folded) with a hash table and prints the 10 most frequent. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry { char *word; unsigned count; struct entry *next; };
static struct entry *table[4096];
static unsigned distinct;

static unsigned hash(const char *s) {
  unsigned h = 2166136261u;
  while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
  return h;
}

static void add(const char *word) {
  unsigned slot = hash(word) % 4096;
  for (struct entry *e = table[slot]; e; e = e->next) if (strcmp(e->word, word) == 0) { e->count++; return; }
  struct entry *e = malloc(sizeof *e);
  e->word = strdup(word);
  e->count = 1;
  e->next = table[slot];
  table[slot] = e;
  distinct++;
}

static int by_count(const void *a, const void *b) {
  const struct entry *x = *(struct entry *const *)a, *y = *(struct entry *const *)b;
  if (x->count != y->count) return x->count < y->count ? 1 : -1;
  return strcmp(x->word, y->word);
}

int main(void) {
  char word[64];
  size_t length = 0;
  int c;
  do {
    c = getchar();
    if (c != EOF && isalpha(c) && length < sizeof word - 1) word[length++] = (char)tolower(c);
    else if (length > 0) { word[length] = 0; add(word); length = 0; }
  } while (c != EOF);
  struct entry **all = malloc(distinct * sizeof *all);
  size_t n = 0;
  for (unsigned i = 0; i < 4096; i++) for (struct entry *e = table[i]; e; e = e->next) all[n++] = e;
  qsort(all, n, sizeof *all, by_count);
  printf("%u distinct words\n", distinct);
  for (size_t i = 0; i < n && i < 10; i++) printf("%6u %s\n", all[i]->count, all[i]->word);
  fprintf(stderr, "done\n");
  return 0;
}
