/*
 * The renderer's per-endpoint rule lines written straight into its byte sink (see ../linewriter.ts, ../render.ts).
 * A port's endpoints come packed in one string, `CHAIN IP ENDPOINT\n` per endpoint (none of the three has a space
 * or a newline: chain names, canonical IPs, ip:port with a numeric port):
 *
 *   sepLines(at, packed, masqMid, dnatMid)
 *       per endpoint: `-A CHAIN<masqMid>IP -j KUBE-MARK-MASQ\n-A CHAIN<dnatMid>ENDPOINT\n`
 *   svcLines(at, packed, jumps, head, statMid, lastMid, withEndpoint)
 *       per endpoint: `<head>ENDPOINT<statMid>JUMP CHAIN\n`, the last `<head>ENDPOINT<lastMid>CHAIN\n`; the
 *       ENDPOINT only when withEndpoint (no comment in large-cluster mode); jumps: `JUMP\n` per endpoint but the last
 *
 * into the buffer set by target(buffer), from offset `at`; each returns the offset after what it wrote.
 * Why native: built in JavaScript, each such line is a template string (a tree of concatenations, flattened into
 * a new string, then copied into the buffer): ~0.7 KB of short-lived heap per endpoint, close to half of what a
 * cold render allocated. Packed, a port's endpoints cross into C as one string: an N-API call per string costs
 * ~40 ns, more than copying it. Characters are cut to one byte, like Buffer's latin1 write: the caller checks
 * that the parts are latin1.
 */
#include <node_api.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Per Node environment (each worker thread loads its own): the target, and room to read strings into. */
typedef struct {
  unsigned char *buf;
  size_t cap;
  napi_ref ref; /* keeps the target buffer alive while it is the target */
  char *scratch[5]; /* one per string argument of a call: packed, jumps and three parts */
  size_t scratch_cap[5];
} state_t;

static napi_value fail(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

static bool get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t argc = n;
  return napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == n;
}

/* Reads string v whole into the state's scratch k (grown to fit); *s and *n point at it. */
static bool read_string(napi_env env, state_t *st, int k, napi_value v, const char **s, size_t *n) {
  size_t len;
  if (napi_get_value_string_latin1(env, v, st->scratch[k], st->scratch_cap[k], &len) != napi_ok) return false;
  if (st->scratch[k] == NULL || len + 1 >= st->scratch_cap[k]) { /* did not fit, or might have been cut */
    if (napi_get_value_string_latin1(env, v, NULL, 0, &len) != napi_ok) return false;
    size_t want = (len + 2) * 2;
    char *p = realloc(st->scratch[k], want);
    if (p == NULL) return false;
    st->scratch[k] = p;
    st->scratch_cap[k] = want;
    if (napi_get_value_string_latin1(env, v, p, want, &len) != napi_ok) return false;
  }
  *s = st->scratch[k];
  *n = len;
  return true;
}

/* A string argument of a call, read whole into a scratch (a constant part of the lines: any length). */
typedef struct {
  const char *s;
  size_t n;
} part_t;

static bool get_part(napi_env env, state_t *st, int k, napi_value v, part_t *p) {
  return read_string(env, st, k, v, &p->s, &p->n);
}

/* The environment's state with a target set, `at` read from v (inside the buffer); NULL otherwise. */
static state_t *get_target(napi_env env, napi_value v, size_t *at) {
  state_t *st = NULL;
  double d;
  if (napi_get_instance_data(env, (void **)&st) != napi_ok || st == NULL || st->buf == NULL) return NULL;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0) || d > (double)st->cap) return NULL;
  *at = (size_t)d;
  return st;
}

/* Appends n bytes; false when they do not fit (the caller promised room for the lines). */
static inline bool put(state_t *st, const void *s, size_t n, size_t *at) {
  if (n > st->cap - *at) return false;
  memcpy(st->buf + *at, s, n);
  *at += n;
  return true;
}

/* The next field of a packed record: up to `end` (a space or a newline); false when there is none. */
static inline bool field(const char **p, const char *limit, char end, const char **s, size_t *n) {
  const char *e = memchr(*p, end, (size_t)(limit - *p));
  if (e == NULL) return false;
  *s = *p;
  *n = (size_t)(e - *p);
  *p = e + 1;
  return true;
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
  state_t *st = NULL;
  if (!get_args(env, info, 1, argv) || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok)
    return fail(env, "target(buffer): a Buffer");
  if (napi_get_instance_data(env, (void **)&st) != napi_ok || st == NULL) return fail(env, "target: not initialised");
  napi_ref ref;
  if (napi_create_reference(env, argv[0], 1, &ref) != napi_ok) return fail(env, "target: no reference");
  if (st->ref != NULL) napi_delete_reference(env, st->ref);
  st->ref = ref;
  st->buf = data;
  st->cap = len;
  return NULL;
}

static const char SEP_USAGE[] = "sepLines(at, packed, masqMid, dnatMid): a target, `CHAIN IP ENDPOINT\\n` records, "
                                "and room for the lines";

static napi_value sep_lines(napi_env env, napi_callback_info info) {
  static const char masq[] = " -j KUBE-MARK-MASQ\n-A ";
  napi_value argv[4];
  size_t at, n;
  const char *p;
  part_t masq_mid, dnat_mid;
  state_t *st;
  if (!get_args(env, info, 4, argv) || (st = get_target(env, argv[0], &at)) == NULL ||
      !read_string(env, st, 0, argv[1], &p, &n) || !get_part(env, st, 2, argv[2], &masq_mid) ||
      !get_part(env, st, 3, argv[3], &dnat_mid))
    return fail(env, SEP_USAGE);
  const char *limit = p + n;
  while (p < limit) {
    const char *c, *ip, *ep;
    size_t cn, ipn, epn;
    if (!field(&p, limit, ' ', &c, &cn) || !field(&p, limit, ' ', &ip, &ipn) || !field(&p, limit, '\n', &ep, &epn) ||
        !put(st, "-A ", 3, &at) || !put(st, c, cn, &at) || !put(st, masq_mid.s, masq_mid.n, &at) ||
        !put(st, ip, ipn, &at) || !put(st, masq, sizeof masq - 1, &at) || !put(st, c, cn, &at) ||
        !put(st, dnat_mid.s, dnat_mid.n, &at) || !put(st, ep, epn, &at) || !put(st, "\n", 1, &at))
      return fail(env, SEP_USAGE);
  }
  return offset(env, at);
}

static const char SVC_USAGE[] = "svcLines(at, packed, jumps, head, statMid, lastMid, withEndpoint): a target, "
                                "`CHAIN IP ENDPOINT\\n` records, a `JUMP\\n` for all but the last, and room for the lines";

static napi_value svc_lines(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  size_t at, n, jn;
  const char *p, *j;
  part_t head, stat_mid, last_mid;
  bool with_ep;
  state_t *st;
  if (!get_args(env, info, 7, argv) || (st = get_target(env, argv[0], &at)) == NULL ||
      !read_string(env, st, 0, argv[1], &p, &n) || !read_string(env, st, 1, argv[2], &j, &jn) ||
      !get_part(env, st, 2, argv[3], &head) || !get_part(env, st, 3, argv[4], &stat_mid) ||
      !get_part(env, st, 4, argv[5], &last_mid) ||
      napi_get_value_bool(env, argv[6], &with_ep) != napi_ok)
    return fail(env, SVC_USAGE);
  const char *limit = p + n, *jlimit = j + jn;
  while (p < limit) {
    const char *c, *ip, *ep, *jump;
    size_t cn, ipn, epn, jumpn;
    if (!field(&p, limit, ' ', &c, &cn) || !field(&p, limit, ' ', &ip, &ipn) || !field(&p, limit, '\n', &ep, &epn) ||
        !put(st, head.s, head.n, &at) || (with_ep && !put(st, ep, epn, &at)))
      return fail(env, SVC_USAGE);
    if (p < limit ? !field(&j, jlimit, '\n', &jump, &jumpn) || !put(st, stat_mid.s, stat_mid.n, &at) ||
                        !put(st, jump, jumpn, &at)
                  : !put(st, last_mid.s, last_mid.n, &at))
      return fail(env, SVC_USAGE);
    if (!put(st, c, cn, &at) || !put(st, "\n", 1, &at)) return fail(env, SVC_USAGE);
  }
  return offset(env, at);
}

static void free_state(napi_env env, void *data, void *hint) {
  (void)hint;
  state_t *st = data;
  if (st->ref != NULL) napi_delete_reference(env, st->ref);
  for (size_t k = 0; k < sizeof st->scratch / sizeof st->scratch[0]; k++) free(st->scratch[k]);
  free(st);
}

NAPI_MODULE_INIT() {
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {{"target", target}, {"sepLines", sep_lines}, {"svcLines", svc_lines}};
  state_t *st = calloc(1, sizeof *st);
  if (st == NULL || napi_set_instance_data(env, st, free_state, NULL) != napi_ok) {
    free(st);
    return NULL;
  }
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &f) != napi_ok) return NULL;
    if (napi_set_named_property(env, exports, fns[i].name, f) != napi_ok) return NULL;
  }
  return exports;
}
