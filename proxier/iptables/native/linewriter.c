/*
 * The renderer's per-endpoint rule lines written straight into its byte sink (see ../linewriter.ts, ../render.ts):
 *
 *   sepLines(at, n, chains, ips, endpoints, masqMid, dnatMid)
 *       per endpoint i: `-A C<masqMid>IP -j KUBE-MARK-MASQ\n-A C<dnatMid>ENDPOINT\n`
 *   svcLines(at, n, endpoints, jumps, chains, head, statMid, lastMid)
 *       per endpoint i: `<head>ENDPOINT<statMid>JUMP CHAIN\n`, the last one `<head>ENDPOINT<lastMid>CHAIN\n`
 *       (endpoints null: none in the line, large-cluster mode; jumps[i] is the probability text for n - i)
 *
 * into the buffer set by target(buffer), from offset `at`; each returns the offset after what it wrote.
 * Why native: built in JavaScript, each such line is a template string (a tree of concatenations, flattened into
 * a new string, then copied into the buffer): ~0.7 KB of short-lived heap per endpoint, close to half of what a
 * cold render allocated. Here the parts go from their strings into the buffer, one call per port and chain.
 * Characters are cut to one byte, like Buffer's latin1 write: the caller checks the parts are latin1.
 */
#include <node_api.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The target: the sink's current buffer, per Node environment (each worker thread loads its own). */
typedef struct {
  unsigned char *buf;
  size_t cap;
  napi_ref ref; /* keeps the buffer alive while it is the target */
} target_t;

static napi_value fail(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

static bool get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t argc = n;
  return napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == n;
}

/*
 * The caller makes room for the lines and two bytes more (N-API ends each string it writes with a NUL). Every copy
 * is bounded by the buffer all the same, and one that would reach its last byte fails rather than being cut (a cut
 * string cannot be told from one that ends there).
 */
static bool put(napi_env env, const target_t *t, napi_value v, size_t *at) {
  size_t n = 0;
  if (*at + 1 >= t->cap) return false;
  if (napi_get_value_string_latin1(env, v, (char *)t->buf + *at, t->cap - *at, &n) != napi_ok) return false;
  *at += n;
  return *at + 1 < t->cap;
}

static bool put_bytes(const target_t *t, const void *s, size_t n, size_t *at) {
  if (*at + n + 1 >= t->cap) return false;
  memcpy(t->buf + *at, s, n);
  *at += n;
  return true;
}

static bool put_elem(napi_env env, const target_t *t, napi_value arr, uint32_t i, size_t *at) {
  napi_value v;
  return napi_get_element(env, arr, i, &v) == napi_ok && put(env, t, v, at);
}

/* A constant part of the lines, read once per call. */
typedef struct {
  char s[1024];
  size_t n;
} part_t;

static bool get_part(napi_env env, napi_value v, part_t *p) {
  return napi_get_value_string_latin1(env, v, p->s, sizeof p->s, &p->n) == napi_ok && p->n < sizeof p->s - 1;
}

/* This environment's target, with the offset `at` read from v (inside the buffer); NULL when there is none. */
static target_t *get_target(napi_env env, napi_value v, size_t *at) {
  target_t *t = NULL;
  double d;
  if (napi_get_instance_data(env, (void **)&t) != napi_ok || t == NULL || t->buf == NULL) return NULL;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0) || d >= (double)t->cap) return NULL;
  *at = (size_t)d;
  return t;
}

static napi_value offset(napi_env env, size_t at) {
  napi_value r;
  if (napi_create_double(env, (double)at, &r) != napi_ok) return NULL;
  return r;
}

/* target(buffer) */
static napi_value target(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  void *data;
  size_t len;
  target_t *t = NULL;
  if (!get_args(env, info, 1, argv) || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok)
    return fail(env, "target(buffer): a Buffer");
  if (napi_get_instance_data(env, (void **)&t) != napi_ok || t == NULL) return fail(env, "target: not initialised");
  napi_ref ref;
  if (napi_create_reference(env, argv[0], 1, &ref) != napi_ok) return fail(env, "target: no reference");
  if (t->ref != NULL) napi_delete_reference(env, t->ref);
  t->ref = ref;
  t->buf = data;
  t->cap = len;
  return NULL;
}

static const char SEP_USAGE[] =
    "sepLines(at, n, chains, ips, endpoints, masqMid, dnatMid): a target, n strings each, and room for the lines";

static napi_value sep_lines(napi_env env, napi_callback_info info) {
  static const char masq[] = " -j KUBE-MARK-MASQ\n-A ";
  napi_value argv[7];
  size_t at;
  uint32_t n;
  part_t masq_mid, dnat_mid;
  const target_t *t;
  if (!get_args(env, info, 7, argv) || (t = get_target(env, argv[0], &at)) == NULL ||
      napi_get_value_uint32(env, argv[1], &n) != napi_ok || !get_part(env, argv[5], &masq_mid) ||
      !get_part(env, argv[6], &dnat_mid))
    return fail(env, SEP_USAGE);
  for (uint32_t i = 0; i < n; i++) {
    if (!put_bytes(t, "-A ", 3, &at)) return fail(env, SEP_USAGE);
    size_t c0 = at;
    if (!put_elem(env, t, argv[2], i, &at)) return fail(env, SEP_USAGE);
    size_t c_len = at - c0;
    if (!put_bytes(t, masq_mid.s, masq_mid.n, &at) || !put_elem(env, t, argv[3], i, &at) ||
        !put_bytes(t, masq, sizeof masq - 1, &at) ||
        /* the chain again, from the copy just written (earlier in the buffer: no overlap) */
        !put_bytes(t, t->buf + c0, c_len, &at) || !put_bytes(t, dnat_mid.s, dnat_mid.n, &at) ||
        !put_elem(env, t, argv[4], i, &at) || !put_bytes(t, "\n", 1, &at))
      return fail(env, SEP_USAGE);
  }
  return offset(env, at);
}

static const char SVC_USAGE[] = "svcLines(at, n, endpoints|null, jumps, chains, head, statMid, lastMid): a target, n "
                                "strings each (n - 1 jumps), and room for the lines";

static napi_value svc_lines(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  size_t at;
  uint32_t n;
  part_t head, stat_mid, last_mid;
  napi_valuetype eps_type;
  const target_t *t;
  if (!get_args(env, info, 8, argv) || (t = get_target(env, argv[0], &at)) == NULL ||
      napi_get_value_uint32(env, argv[1], &n) != napi_ok || napi_typeof(env, argv[2], &eps_type) != napi_ok ||
      !get_part(env, argv[5], &head) || !get_part(env, argv[6], &stat_mid) || !get_part(env, argv[7], &last_mid))
    return fail(env, SVC_USAGE);
  bool with_eps = eps_type != napi_null;
  for (uint32_t i = 0; i < n; i++) {
    if (!put_bytes(t, head.s, head.n, &at) || (with_eps && !put_elem(env, t, argv[2], i, &at)))
      return fail(env, SVC_USAGE);
    bool last = i + 1 == n;
    if (last ? !put_bytes(t, last_mid.s, last_mid.n, &at)
             : !put_bytes(t, stat_mid.s, stat_mid.n, &at) || !put_elem(env, t, argv[3], i, &at))
      return fail(env, SVC_USAGE);
    if (!put_elem(env, t, argv[4], i, &at) || !put_bytes(t, "\n", 1, &at)) return fail(env, SVC_USAGE);
  }
  return offset(env, at);
}

static void free_target(napi_env env, void *data, void *hint) {
  (void)hint;
  target_t *t = data;
  if (t->ref != NULL) napi_delete_reference(env, t->ref);
  free(t);
}

NAPI_MODULE_INIT() {
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {{"target", target}, {"sepLines", sep_lines}, {"svcLines", svc_lines}};
  target_t *t = calloc(1, sizeof *t);
  if (t == NULL || napi_set_instance_data(env, t, free_target, NULL) != napi_ok) {
    free(t);
    return NULL;
  }
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &f) != napi_ok) return NULL;
    if (napi_set_named_property(env, exports, fns[i].name, f) != napi_ok) return NULL;
  }
  return exports;
}
