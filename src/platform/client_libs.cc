#include "platform/client_libs.h"

#include <curl/curl.h>
#include <libpq-fe.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>

#include "platform/dynlib.h"
#include "platform/env_posix.h"

namespace baton {
namespace {

struct ClientLibrary {
  const char* soname;
  const char* override_var;  // names another file to load instead
  const char* package;       // Debian's runtime package
  std::once_flag once;
  std::string path;  // what was loaded
  void* handle = nullptr;
  std::string error;
};

ClientLibrary& Pq() {
  static ClientLibrary lib{"libpq.so.5", "BATON_LIBPQ", "libpq5", {}, {}, nullptr, {}};
  return lib;
}

ClientLibrary& Curl() {
  static ClientLibrary lib{"libcurl.so.4", "BATON_LIBCURL", "libcurl4", {}, {}, nullptr, {}};
  return lib;
}

Status Load(ClientLibrary& lib) {
  std::call_once(lib.once, [&] {
    std::optional<std::string> path = PosixEnv()->GetEnv(lib.override_var);
    lib.path = path && !path->empty() ? *path : lib.soname;
    lib.handle = OpenLibrary(lib.path, &lib.error);
  });
  if (lib.handle != nullptr) return Status::Ok();
  return FailedPrecondition("cannot load " + lib.path + " (Debian package " + lib.package +
                            ", or set " + lib.override_var +
                            " to the library's path): " + lib.error);
}

// The address of `name` in `lib`, loading it first; a missing library or symbol here is fatal
// (Load*() reports it as an error before any store uses the library).
void* Symbol(ClientLibrary& lib, const char* name) {
  Status loaded = Load(lib);
  void* f = loaded.ok() ? LibrarySymbol(lib.handle, name) : nullptr;
  if (f == nullptr) {
    std::fprintf(stderr, "baton: %s\n",
                 loaded.ok() ? (lib.path + " has no " + name).c_str() : loaded.message().c_str());
    std::abort();
  }
  return f;
}

}  // namespace

Status LoadPostgresClient() { return Load(Pq()); }
Status LoadHttpClient() { return Load(Curl()); }

std::map<std::string, std::string> ClientLibraryFiles() {
  std::map<std::string, std::string> files;
  for (ClientLibrary* lib : {&Pq(), &Curl()}) {
    if (!Load(*lib).ok()) continue;
    const std::string file = LibraryFile(lib->handle);
    if (!file.empty()) files[lib->soname] = file;
  }
  return files;
}

}  // namespace baton

// Each forwarder resolves its function once. The names are in parentheses so that the
// function-like macros of curl.h (type checks) do not expand here.
#define BATON_FORWARD(lib, ret, name, params, args)                                       \
  extern "C" ret(name) params {                                                           \
    static const auto f = reinterpret_cast<decltype(&(name))>(baton::Symbol(lib, #name)); \
    return f args;                                                                        \
  }

using baton::Curl;
using baton::Pq;

// libpq
BATON_FORWARD(Pq(), PGconn*, PQconnectdbParams,
              (const char* const* keywords, const char* const* values, int expand_dbname),
              (keywords, values, expand_dbname))
BATON_FORWARD(Pq(), void, PQfinish, (PGconn * conn), (conn))
BATON_FORWARD(Pq(), ConnStatusType, PQstatus, (const PGconn* conn), (conn))
BATON_FORWARD(Pq(), PGTransactionStatusType, PQtransactionStatus, (const PGconn* conn), (conn))
BATON_FORWARD(Pq(), char*, PQerrorMessage, (const PGconn* conn), (conn))
BATON_FORWARD(Pq(), int, PQserverVersion, (const PGconn* conn), (conn))
BATON_FORWARD(Pq(), int, PQbackendPID, (const PGconn* conn), (conn))
BATON_FORWARD(Pq(), char*, PQhost, (const PGconn* conn), (conn))
BATON_FORWARD(Pq(), char*, PQport, (const PGconn* conn), (conn))
BATON_FORWARD(Pq(), char*, PQdb, (const PGconn* conn), (conn))
BATON_FORWARD(Pq(), PQnoticeProcessor, PQsetNoticeProcessor,
              (PGconn * conn, PQnoticeProcessor proc, void* arg), (conn, proc, arg))
BATON_FORWARD(Pq(), PQconninfoOption*, PQconninfoParse, (const char* conninfo, char** errmsg),
              (conninfo, errmsg))
BATON_FORWARD(Pq(), void, PQconninfoFree, (PQconninfoOption * options), (options))
BATON_FORWARD(Pq(), void, PQfreemem, (void* ptr), (ptr))
BATON_FORWARD(Pq(), PGresult*, PQexec, (PGconn * conn, const char* query), (conn, query))
BATON_FORWARD(Pq(), PGresult*, PQprepare,
              (PGconn * conn, const char* name, const char* query, int n, const Oid* types),
              (conn, name, query, n, types))
BATON_FORWARD(Pq(), PGresult*, PQexecPrepared,
              (PGconn * conn, const char* name, int n, const char* const* values,
               const int* lengths, const int* formats, int result_format),
              (conn, name, n, values, lengths, formats, result_format))
BATON_FORWARD(Pq(), int, PQsendQueryParams,
              (PGconn * conn, const char* command, int n, const Oid* types,
               const char* const* values, const int* lengths, const int* formats,
               int result_format),
              (conn, command, n, types, values, lengths, formats, result_format))
BATON_FORWARD(Pq(), int, PQsendQueryPrepared,
              (PGconn * conn, const char* name, int n, const char* const* values,
               const int* lengths, const int* formats, int result_format),
              (conn, name, n, values, lengths, formats, result_format))
BATON_FORWARD(Pq(), PGresult*, PQgetResult, (PGconn * conn), (conn))
BATON_FORWARD(Pq(), int, PQenterPipelineMode, (PGconn * conn), (conn))
BATON_FORWARD(Pq(), int, PQexitPipelineMode, (PGconn * conn), (conn))
BATON_FORWARD(Pq(), int, PQpipelineSync, (PGconn * conn), (conn))
BATON_FORWARD(Pq(), void, PQclear, (PGresult * res), (res))
BATON_FORWARD(Pq(), ExecStatusType, PQresultStatus, (const PGresult* res), (res))
BATON_FORWARD(Pq(), char*, PQresultErrorMessage, (const PGresult* res), (res))
BATON_FORWARD(Pq(), char*, PQresultErrorField, (const PGresult* res, int code), (res, code))
BATON_FORWARD(Pq(), int, PQntuples, (const PGresult* res), (res))
BATON_FORWARD(Pq(), int, PQnfields, (const PGresult* res), (res))
BATON_FORWARD(Pq(), char*, PQgetvalue, (const PGresult* res, int row, int col), (res, row, col))
BATON_FORWARD(Pq(), int, PQgetlength, (const PGresult* res, int row, int col), (res, row, col))
BATON_FORWARD(Pq(), int, PQgetisnull, (const PGresult* res, int row, int col), (res, row, col))
BATON_FORWARD(Pq(), char*, PQcmdStatus, (PGresult * res), (res))
BATON_FORWARD(Pq(), char*, PQcmdTuples, (PGresult * res), (res))

// libcurl
BATON_FORWARD(Curl(), CURLcode, curl_global_init, (long flags), (flags))
BATON_FORWARD(Curl(), CURL*, curl_easy_init, (void), ())
BATON_FORWARD(Curl(), void, curl_easy_cleanup, (CURL * curl), (curl))
BATON_FORWARD(Curl(), void, curl_easy_reset, (CURL * curl), (curl))
BATON_FORWARD(Curl(), CURLcode, curl_easy_perform, (CURL * curl), (curl))
BATON_FORWARD(Curl(), const char*, curl_easy_strerror, (CURLcode code), (code))
BATON_FORWARD(Curl(), curl_slist*, curl_slist_append, (curl_slist * list, const char* s), (list, s))
BATON_FORWARD(Curl(), void, curl_slist_free_all, (curl_slist * list), (list))

// The variadic two take one more argument, whose type curl's documentation fixes by the
// option's range (CURLOPTTYPE_*) and, for getinfo, is always a pointer.
extern "C" CURLcode(curl_easy_setopt)(CURL* curl, CURLoption option, ...) {
  using Fn = CURLcode (*)(CURL*, CURLoption, ...);
  static const auto f = reinterpret_cast<Fn>(baton::Symbol(Curl(), "curl_easy_setopt"));
  va_list ap;
  va_start(ap, option);
  CURLcode code;
  if (option < CURLOPTTYPE_OBJECTPOINT) {
    code = f(curl, option, va_arg(ap, long));
  } else if (option >= CURLOPTTYPE_OFF_T && option < CURLOPTTYPE_BLOB) {
    code = f(curl, option, va_arg(ap, curl_off_t));
  } else {
    code = f(curl, option, va_arg(ap, void*));  // objects, functions and blobs: pointers
  }
  va_end(ap);
  return code;
}

extern "C" CURLcode(curl_easy_getinfo)(CURL* curl, CURLINFO info, ...) {
  using Fn = CURLcode (*)(CURL*, CURLINFO, ...);
  static const auto f = reinterpret_cast<Fn>(baton::Symbol(Curl(), "curl_easy_getinfo"));
  va_list ap;
  va_start(ap, info);
  void* out = va_arg(ap, void*);
  va_end(ap);
  return f(curl, info, out);
}
