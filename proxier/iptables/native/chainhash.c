/*
 * kube-proxy's chain-name hash as one native call (see ../hash.ts):
 *
 *   hash16(prefix, a, b) = prefix + the first 16 RFC 4648 base32 characters of sha256(utf8(a) || utf8(b))
 *
 * Why native: a 1k-service render hashes ~11k names. Node's crypto.hash costs ~0.5 µs per call in its JavaScript
 * wrapper and binding, before base32 and building the name; here the whole name is ~0.2 µs. The digest comes from
 * the OpenSSL that Node itself links (its SHA256_* symbols are exported by the node binary and resolved when this
 * addon is loaded): the low-level SHA256_Init/Update/Final, because OpenSSL 3's one-shot SHA256() fetches the
 * algorithm on every call (~0.8 µs). The inputs are UTF-8, like Go's []byte(string) and crypto.hash of a string
 * (a lone surrogate becomes U+FFFD in both).
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <node_api.h>
#include <openssl/sha.h>
#include <stdbool.h>
#include <stdlib.h>

static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* Feeds the UTF-8 bytes of a JS string to the digest: from a stack buffer, or a heap one when it is longer. */
static napi_status update_utf8(napi_env env, napi_value v, SHA256_CTX *ctx) {
  char stack[512];
  size_t n = 0;
  napi_status s = napi_get_value_string_utf8(env, v, stack, sizeof stack, &n);
  if (s != napi_ok) return s;
  /* Complete unless it filled the buffer: a cut falls on a character boundary, so up to 3 bytes may stay unused. */
  if (n < sizeof stack - 4) {
    SHA256_Update(ctx, stack, n);
    return napi_ok;
  }
  /* Maybe cut: ask for the length and read it whole. */
  s = napi_get_value_string_utf8(env, v, NULL, 0, &n);
  if (s != napi_ok) return s;
  char *heap = malloc(n + 1);
  if (heap == NULL) return napi_generic_failure;
  s = napi_get_value_string_utf8(env, v, heap, n + 1, &n);
  if (s == napi_ok) SHA256_Update(ctx, heap, n);
  free(heap);
  return s;
}

/* Writes the name into out after its p-character prefix; returns the JS string, or NULL with an exception. */
static napi_value finish(napi_env env, napi_value a, napi_value b, char *out, size_t p) {
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  if (update_utf8(env, a, &ctx) != napi_ok || update_utf8(env, b, &ctx) != napi_ok) {
    napi_throw_type_error(env, NULL, "chain-name hash: a and b must be strings");
    return NULL;
  }
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256_Final(d, &ctx);
  /* 80 bits = 16 characters, 5 bytes (8 characters) at a time. */
  for (int i = 0; i < 10; i += 5) {
    unsigned long long v = ((unsigned long long)d[i] << 32) | ((unsigned long long)d[i + 1] << 24) |
                           ((unsigned long long)d[i + 2] << 16) | ((unsigned long long)d[i + 3] << 8) | d[i + 4];
    for (int k = 35; k >= 0; k -= 5) out[p++] = ALPHABET[(v >> k) & 31];
  }
  napi_value r;
  if (napi_create_string_latin1(env, out, p, &r) != napi_ok) return NULL;
  return r;
}

/* Reads exactly n arguments into argv; false (with a TypeError thrown) otherwise. */
static bool get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv, const char *usage) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == n) return true;
  napi_throw_type_error(env, NULL, usage);
  return false;
}

/* hash16(prefix, a, b): any prefix (a chain kind: short, latin1). */
static napi_value hash16(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv, "hash16(prefix, a, b): three strings")) return NULL;
  char out[64];
  size_t p = 0;
  if (napi_get_value_string_latin1(env, argv[0], out, 40, &p) != napi_ok || p >= 39) {
    napi_throw_type_error(env, NULL, "hash16: prefix must be a string of at most 38 characters");
    return NULL;
  }
  return finish(env, argv[1], argv[2], out, p);
}

/* sepName(a, b) = hash16("KUBE-SEP-", a, b): one per endpoint, the hot call, without reading a prefix. */
static napi_value sep_name(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv, "sepName(a, b): two strings")) return NULL;
  char out[64] = "KUBE-SEP-";
  return finish(env, argv[0], argv[1], out, 9);
}

NAPI_MODULE_INIT() {
  napi_value f;
  if (napi_create_function(env, "hash16", NAPI_AUTO_LENGTH, hash16, NULL, &f) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "hash16", f) != napi_ok) return NULL;
  if (napi_create_function(env, "sepName", NAPI_AUTO_LENGTH, sep_name, NULL, &f) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "sepName", f) != napi_ok) return NULL;
  return exports;
}
