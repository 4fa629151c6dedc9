/* The C ABI of baton orchestrator plugins (shared libraries loaded with
 * `baton flavor register LIB.so`).
 *
 * A plugin exports one function:
 *
 *   const baton_plugin_v1* baton_plugin_entry(uint32_t host_abi_version);
 *
 * baton passes the ABI version it speaks; the plugin returns its descriptor (or NULL when it
 * cannot serve that version). baton refuses a descriptor whose abi_version differs from its own
 * or whose struct_size does not reach supports_schedules, and says why. Members after
 * supports_schedules were added later within version 1: baton uses one only when struct_size
 * covers it, so a plugin built against an older header keeps working.
 *
 * Data crosses the boundary as UTF-8 JSON strings, never as C++ objects, so a plugin may be
 * built with another compiler or standard library than baton. Requests are the JSON form of
 * baton::SubmitRequest (see baton/orchestrator.h and docs/custom-orchestrators.md). Functions
 * return 0 on success; on failure they write a message into `err` (at most err_size bytes,
 * NUL-terminated) and return non-zero.
 */
#ifndef BATON_PLUGIN_H_
#define BATON_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BATON_PLUGIN_ABI_VERSION 1u

typedef struct baton_plugin_v1 {
  uint32_t abi_version; /* BATON_PLUGIN_ABI_VERSION */
  uint32_t struct_size; /* sizeof(baton_plugin_v1) */
  const char* type;     /* "orchestrator" */
  const char* flavor;   /* [A-Za-z0-9_-]{1,63}, must not clash with a built-in flavor */
  const char* maturity; /* "stable" | "beta" | "experimental" */
  const char* summary;  /* one line */
  /* The config schema: a JSON array of {"name", "type" (string|int|float|bool|list|duration|size),
   * "required", "default", "help", "secret", "component_only"}. */
  const char* config_schema;

  /* Creates an orchestrator from its component config (JSON object, validated against the
   * schema, secrets resolved). Returns NULL and fills err on failure. */
  void* (*create)(const char* config_json, char* err, size_t err_size);
  void (*destroy)(void* self);
  /* Writes what submit would run into out_dir. */
  int (*compile)(void* self, const char* request_json, const char* out_dir, char* err, size_t err_size);
  /* Runs the request (may block until the run ends). */
  int (*submit)(void* self, const char* request_json, char* err, size_t err_size);
  /* Stops a run; called from another thread than submit. */
  int (*stop)(void* self, const char* run_id, char* err, size_t err_size);
  /* Optional (may be NULL): writes {"status": ..., "reason": ...} into state_json. */
  int (*state)(void* self, const char* run_id, char* state_json, size_t state_size);
  /* Non-zero when submit honours the "schedule" field of requests. */
  int supports_schedules;

  /* Optional (may be NULL): ends whatever the backend still runs of run_id after the baton
   * process that drove the run died. Writes a short note of what it ended into note (may stay
   * empty). Called once per dead run by the next baton command; must be idempotent. */
  int (*cleanup)(void* self, const char* run_id, char* note, size_t note_size, char* err, size_t err_size);
} baton_plugin_v1;

typedef const baton_plugin_v1* (*baton_plugin_entry_fn)(uint32_t host_abi_version);

/* Marks the entry point exported even when the plugin hides its other symbols. */
#define BATON_PLUGIN_EXPORT __attribute__((visibility("default")))

#ifdef __cplusplus
}
#endif

#endif /* BATON_PLUGIN_H_ */
