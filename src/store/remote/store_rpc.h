#pragma once
// The store API of `baton server`: every MetadataStore method as one request,
//   POST /api/v1/store/METHOD   {"args": [ARG, ...]}
// answered {"result": VALUE, "out": [VALUE, ...]} (`out`: the arguments a method fills in, in
// order) or, on failure, {"error": {"code", "message"}} with the HTTP status of the code. The
// client (store/remote/remote_store.h) and the server (server/store_api.h) share this file, so
// the two sides cannot disagree on a method's arguments or on how a value is written.
//
// A batch (BeginBatch ... EndBatch) is held by the server: BeginBatch answers a batch id, and
// the requests that carry it in `X-Baton-Batch` run inside that batch's transaction.

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "baton/format.h"
#include "baton/metadata_store.h"
#include "baton/status.h"
#include "store/record_codec.h"

namespace baton::store_rpc {

// Every method, by name. Batches are three more: BeginBatch, EndBatch and AbortBatch.
#define BATON_STORE_RPC_METHODS(X)                                                            \
  X(PutSnapshot) X(GetSnapshot) X(CreateRun) X(UpdateRunStatus) X(ClaimRun)                   \
  X(MarkRunInterrupted) X(RunsWithStatus) X(GetRun) X(SetRunLabels) X(DeleteRun) X(RunUsers)  \
  X(ListRuns) X(StartStepRun) X(FinishStepRun) X(ListStepRuns) X(GetStepRun) X(FindRunOutput) \
  X(GetArtifact) X(ListArtifacts) X(StepOutputs) X(StepInputs) X(ArtifactDigests)             \
  X(Consumers) X(FindCacheHit) X(PreviousStepRun) X(CreateComponent) X(UpdateComponent)       \
  X(GetComponent) X(ListComponents) X(DeleteComponent) X(CreateStack) X(UpdateStack)          \
  X(GetStack) X(ListStacks) X(DeleteStack) X(GetSetting) X(SetSetting) X(PutPlugin)           \
  X(ListPlugins) X(DeletePlugin) X(CreateUser) X(GetUser) X(ListUsers) X(DeleteUser)          \
  X(CreateToken) X(FindToken) X(ListTokens) X(DeleteToken) X(TouchToken) X(StepDurations)       \
  X(CreateSchedule) X(GetSchedule) X(ListSchedules) X(UpdateSchedule) X(DeleteSchedule)        \
  X(AdvanceSchedule)

constexpr const char* kBatchHeader = "x-baton-batch";
// Sent with GetStepRun and StepOutputs of a step run that FindCacheHit named: the cache key it
// was found by. A run token may read another run's step run only with its key.
constexpr const char* kCacheKeyHeader = "x-baton-cache-key";

// Whether a method only reads (a read may be sent again when its answer is lost; a write is sent
// again only when the server says it did nothing).
bool IsRead(const std::string& method);

// Bytes as base64 and back (baton/format.h): what is not text in a JSON string (a log's
// bytes). Decode: false for anything but well-formed base64.
using baton::Base64Decode;
using baton::Base64Encode;

// The store API method that sends a log's bytes (MetadataStore::AppendRunLog); not a method of
// the database stores, so it is not in BATON_STORE_RPC_METHODS: the server keeps the copies.
constexpr const char* kAppendRunLog = "AppendRunLog";

// The wire name of an error code ("not_found") and back (kInternal for a name it does not know).
const char* CodeName(Code code);
Code CodeFromName(const std::string& name);
// The HTTP status an error of this code is answered with.
int HttpStatus(Code code);

// ---- Values ----

template <class T> struct IsVector : std::false_type {};
template <class T> struct IsVector<std::vector<T>> : std::true_type {};
template <class T> struct IsPair : std::false_type {};
template <class A, class B> struct IsPair<std::pair<A, B>> : std::true_type {};
template <class T> struct IsOptional : std::false_type {};
template <class T> struct IsOptional<std::optional<T>> : std::true_type {};

template <class T>
Json Encode(const T& v) {
  if constexpr (std::is_same_v<T, RunStatus> || std::is_same_v<T, StepStatus>) {
    return ToString(v);
  } else if constexpr (std::is_same_v<T, std::string> || std::is_arithmetic_v<T>) {
    return Json(v);
  } else if constexpr (IsVector<T>::value) {
    Json j = Json::array();
    for (const auto& e : v) j.push_back(Encode(e));
    return j;
  } else if constexpr (IsPair<T>::value) {
    return Json::array({Encode(v.first), Encode(v.second)});
  } else if constexpr (IsOptional<T>::value) {
    return v ? Encode(*v) : Json();
  } else {
    return RecordJson(v);
  }
}

// Whether `j` held a value of type T (then in *out).
template <class T>
bool Decode(const Json& j, T* out) {
  if constexpr (std::is_same_v<T, RunStatus>) {
    return j.is_string() && ParseRunStatus(j.get<std::string>(), out);
  } else if constexpr (std::is_same_v<T, StepStatus>) {
    return j.is_string() && ParseStepStatus(j.get<std::string>(), out);
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!j.is_string()) return false;
    *out = j.get<std::string>();
    return true;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!j.is_boolean()) return false;
    *out = j.get<bool>();
    return true;
  } else if constexpr (std::is_integral_v<T>) {
    if (!j.is_number_integer()) return false;
    *out = j.get<T>();
    return true;
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!j.is_number()) return false;
    *out = j.get<T>();
    return true;
  } else if constexpr (IsVector<T>::value) {
    if (!j.is_array()) return false;
    out->clear();
    out->reserve(j.size());
    for (const Json& e : j) {
      typename T::value_type v{};
      if (!Decode(e, &v)) return false;
      out->push_back(std::move(v));
    }
    return true;
  } else if constexpr (IsPair<T>::value) {
    return j.is_array() && j.size() == 2 && Decode(j[0], &out->first) && Decode(j[1], &out->second);
  } else if constexpr (IsOptional<T>::value) {
    if (j.is_null()) {
      out->reset();
      return true;
    }
    typename T::value_type v{};
    if (!Decode(j, &v)) return false;
    *out = std::move(v);
    return true;
  } else {
    return ReadRecord(j, out).empty();
  }
}

// ---- Methods ----

// What a method takes and gives: its arguments as stored values (a pointer argument, which the
// method fills in, as the value it points to) and its return type (Status or Result<T>).
template <class M> struct Method;
template <class R, class... A>
struct Method<R (MetadataStore::*)(A...)> {
  using Return = R;
  using Args = std::tuple<std::remove_cv_t<std::remove_pointer_t<std::decay_t<A>>>...>;
  static constexpr bool kOut[] = {false, std::is_pointer_v<std::decay_t<A>>...};  // [0] unused
};

template <class R> struct ResultValue { using type = void; };
template <class T> struct ResultValue<Result<T>> { using type = T; };

}  // namespace baton::store_rpc
