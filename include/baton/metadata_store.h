#pragma once
// MetadataStore: where baton records pipelines, snapshots, runs, step runs, artifacts and
// lineage. Stores open by URI (baton/stores.h): `sqlite:///path` is built in; other stores
// (PostgreSQL, the server) register factories and pass the metadata store contract suite
// (tests/store_contract_test.cc). The store keeps records and their integrity (keys, and records
// that name other records); rules of the domain live above it (app/stack.h).
//
// Errors: a record asked for by key that is not there is NotFound; a write whose key is taken is
// AlreadyExists; a write naming a record that is not there (a run's snapshot, a step run's run, an
// input's artifact) is NotFound. A failed write records nothing.
//
// Sharing and crashes: implementations are not thread-safe (use one instance per thread), but
// any number of instances, in threads or processes, may open one URI and write at once: each write
// (and each batch) is atomic, and none is lost. Under contention a write may fail with
// Unavailable, which records nothing and may be retried. A write that returned Ok survives a
// crash of the process that made it; a process that dies inside a batch leaves none of it.
//
// A new store holds the `default` orchestrator and artifact store (flavor `local`, config `{}`)
// and the `default` stack of the two, which the `active_stack` setting names.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "baton/run_status.h"
#include "baton/status.h"

namespace baton {

struct RunRecord {
  std::string id;
  std::string pipeline;
  std::string snapshot_hash;
  RunStatus status = RunStatus::kPending;
  std::string reason;
  int64_t created_at = 0;
  int64_t started_at = 0;
  int64_t ended_at = 0;
  std::string stack = "default";
  std::string orchestrator = "local";
  std::string host;
  int64_t pid = 0;           // the baton process driving the run
  int64_t pid_start = 0;     // that process's start time (ticks since boot), against pid reuse
  int attempt = 1;           // 1, then +1 per resume
  std::string parameters;    // JSON object
  std::string pipeline_file;
  std::vector<std::string> tags;  // labels people give the run; none empty or holding whitespace
  std::string note;               // free text about the run
  bool use_cache = true;          // false for a run started without the cache; its resumes keep it
  std::string schedule;           // the schedule that started the run ("" when none did)
};

struct StepRunRecord {
  int64_t id = 0;
  std::string run_id;
  std::string step;
  int attempt = 1;
  StepStatus status = StepStatus::kRunning;
  std::string reason;
  int64_t started_at = 0;
  int64_t ended_at = 0;
  int exit_code = -1;
  std::string log_path;
  std::string cache_key;
  int64_t cached_from = 0;   // step run id this one reuses outputs of
  std::string metadata;      // JSON written by the step, "" if none
  int64_t pid = 0;
  std::string command;       // the resolved command, for people
  std::string cache_components;  // JSON of what went into cache_key (for --explain)
};

struct ArtifactRecord {
  int64_t id = 0;
  int64_t step_run_id = 0;   // the step run that produced it
  std::string run_id;
  std::string pipeline;
  std::string step;
  std::string name;
  int version = 0;           // per (pipeline, step, name), from 1
  std::string digest;        // sha256 hex
  int64_t size = 0;
  std::string kind;          // file | dir
  std::string uri;
  int64_t created_at = 0;
  std::string materializer;  // how an in-process step wrote it ("" for command steps)
  std::string type;          // the C++ type it holds, as the materializer names it
};

// One input a step run read: its local name and the artifact.
struct InputUse {
  std::string name;
  int64_t artifact_id = 0;
};

// Output of a step run: its name and the artifact (new or reused from the cache).
struct OutputUse {
  std::string name;
  int64_t artifact_id = 0;
};

// A configured instance of a flavor: an orchestrator or an artifact store.
struct ComponentRecord {
  std::string type;    // orchestrator | artifact_store
  std::string name;
  std::string flavor;
  std::string config;  // JSON object, validated against the flavor's schema; secrets as {{env.NAME}}
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

// A named set of components.
struct StackRecord {
  std::string name;
  std::string orchestrator;
  std::string artifact_store;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

// A flavor loaded from a shared library.
struct PluginRecord {
  std::string type;
  std::string flavor;
  std::string path;    // absolute
  std::string digest;  // sha256 of the library when registered
  int64_t registered_at = 0;
};

// Someone the server (`baton server`) lets in: a person, or a service account for machines
// (CI, a cluster's pods). The role says what they may do: `viewer` reads, `editor` also runs,
// stops, resumes and records, `admin` also deletes and manages users.
struct UserRecord {
  std::string name;
  std::string kind = "user";  // user | service
  std::string role = "editor";  // viewer | editor | admin
  int64_t created_at = 0;
};

// A bearer token of a user. Only the SHA-256 of its secret is kept; the secret is shown once,
// when it is made. A run token (run_id set) is good for that run alone: what a step of the run
// sends back, and nothing else.
struct TokenRecord {
  std::string id;           // public, to list and revoke it
  std::string user;
  std::string hash;         // sha256 hex of the secret
  std::string run_id;       // "" for a user's token
  std::string description;
  int64_t created_at = 0;
  int64_t expires_at = 0;   // microseconds since the epoch; 0 for never
  int64_t last_used_at = 0;
};

// A pipeline run on a cron schedule by `baton server` (app/schedules.h has the rules).
struct ScheduleRecord {
  std::string name;           // unique
  std::string pipeline_file;  // relative to the workspace the server runs schedules in, or absolute
  std::string cron;           // five fields or a macro (core/cron.h)
  std::string time_zone = "UTC";  // a name of the tz database (Europe/Berlin)
  std::string stack;          // "" for the active stack at each run
  std::string run_config;     // a run config file (-c), "" for none
  std::string catchup = "latest";  // times missed while no server ran: none | latest | all
  std::string overlap = "skip";    // a time that comes while the last run runs: skip | queue | allow
  bool paused = false;
  int64_t created_at = 0;
  int64_t updated_at = 0;
  int64_t last_fire = 0;      // the scheduled time (us) last handled: run, skipped or queued
  std::string last_run;       // the run the schedule started last
};

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  // Groups the writes until the matching EndBatch into one transaction: other instances see none
  // of them before EndBatch, and none survives a process that dies before it. Each write inside
  // is a savepoint, so a failed write undoes only itself and the batch goes on. Nested calls on
  // one instance are counted: only the outermost EndBatch commits; an EndBatch outside a batch
  // does nothing. A batch holds the store's write lock, so checks read inside it still hold when
  // its writes commit. The default implementation does nothing (each write is then its own
  // transaction); it is for test doubles, and does not pass the contract suite.
  virtual Status BeginBatch() { return Status::Ok(); }
  virtual Status EndBatch() { return Status::Ok(); }

  // Snapshots are immutable and keyed by their content hash; storing a hash again is a no-op
  // (the first body stays). GetSnapshot: NotFound for an unknown hash.
  virtual Status PutSnapshot(const std::string& hash, const std::string& pipeline,
                             const std::string& body) = 0;
  virtual Result<std::string> GetSnapshot(const std::string& hash) = 0;

  // Records every field of `run`. AlreadyExists for a taken id; NotFound when its snapshot is
  // not stored.
  virtual Status CreateRun(const RunRecord& run) = 0;
  // Sets status, reason and ended_at. A run that ends (any status but pending or running) leaves
  // no step run running: those still running become stopped when the run is stopped (their
  // processes were ended with it, before they could say so), interrupted otherwise, with the same
  // reason and end time, in the same transaction. NotFound for an unknown run.
  virtual Status UpdateRunStatus(const std::string& run_id, RunStatus status,
                                 const std::string& reason, int64_t ended_at) = 0;
  // Marks a run as taken over by this process (resume): status running, reason and ended_at
  // cleared, new pid, pid_start and host, attempt+1. FailedPrecondition while the run is running
  // (whoever asks); NotFound for an unknown run.
  virtual Status ClaimRun(const std::string& run_id, int64_t pid, int64_t pid_start, const std::string& host) = 0;
  // Marks a run that is still "running" as interrupted (ended now), with its running step runs, in
  // one transaction. Does nothing to a run in any other state, nor to its step runs. NotFound for
  // an unknown run.
  virtual Status MarkRunInterrupted(const std::string& run_id, const std::string& reason) = 0;
  // Every run in `status`, in no particular order.
  virtual Result<std::vector<RunRecord>> RunsWithStatus(RunStatus status) = 0;
  // A run by exact id, by a prefix of exactly one id (taken literally; InvalidArgument when it
  // is ambiguous), or "last"/"latest" for the newest run. NotFound when nothing matches.
  virtual Result<RunRecord> GetRun(const std::string& id_or_prefix) = 0;
  // Replaces a run's tags and note. InvalidArgument for a tag that is empty or holds whitespace;
  // NotFound for an unknown run.
  virtual Status SetRunLabels(const std::string& run_id, const std::vector<std::string>& tags,
                              const std::string& note) = 0;
  // Deletes a run with its step runs, the artifacts they produced, and the records of what they
  // read and output, in one transaction. FailedPrecondition when the run is pending or running,
  // or when a step run of another run reads or reuses an artifact this run produced, or was
  // cached from one of its step runs: the message names those runs. NotFound for an unknown run.
  // The artifacts' content stays in the artifact store (see ArtifactDigests).
  virtual Status DeleteRun(const std::string& run_id) = 0;
  // The other runs that keep DeleteRun from deleting `run_id` (their step runs read or reuse an
  // artifact it produced, or were cached from one of its step runs), sorted. NotFound for an
  // unknown run.
  virtual Result<std::vector<std::string>> RunUsers(const std::string& run_id) = 0;
  // Runs of `pipeline` ("" for all), newest created_at first (of equal times, the one created
  // later first), at most `limit` (<= 0: all).
  virtual Result<std::vector<RunRecord>> ListRuns(const std::string& pipeline, int limit) = 0;

  // Records the start of an attempt; returns the new step run id. AlreadyExists when that
  // attempt of the step was started in the run before; NotFound for an unknown run.
  virtual Result<int64_t> StartStepRun(const StepRunRecord& rec) = 0;
  // Records the end of attempt rec.id (its status, reason, ended_at, exit_code, cache_key,
  // cached_from, metadata and pid; its other fields keep what StartStepRun recorded), with its new
  // artifacts, reused outputs and inputs, in one transaction. New artifacts get their id,
  // step_run_id and version (1, 2, ... per pipeline, step and name) filled in. NotFound for an
  // unknown step run, or a reused output or input naming an unknown artifact.
  virtual Status FinishStepRun(const StepRunRecord& rec, std::vector<ArtifactRecord>* new_artifacts,
                               const std::vector<OutputUse>& reused_outputs,
                               const std::vector<InputUse>& inputs) = 0;
  // The step runs of a run in the order they started.
  virtual Result<std::vector<StepRunRecord>> ListStepRuns(const std::string& run_id) = 0;
  virtual Result<StepRunRecord> GetStepRun(int64_t id) = 0;  // NotFound for an unknown id

  // The artifact that output `output` of step `step` has in run `run_id` (latest successful
  // attempt: completed, or cached with the output reused), or nullopt.
  virtual Result<std::optional<ArtifactRecord>> FindRunOutput(const std::string& run_id,
                                                              const std::string& step,
                                                              const std::string& output) = 0;
  // An artifact by id, or by a prefix of its digest of at least 6 hex digits ("sha256:"
  // allowed; the first recorded when several match). NotFound when nothing matches.
  virtual Result<ArtifactRecord> GetArtifact(const std::string& id_or_digest_prefix) = 0;
  // The artifacts step runs of `run_id` output, new or reused ("" for every artifact), newest
  // first, at most `limit` (<= 0: all).
  virtual Result<std::vector<ArtifactRecord>> ListArtifacts(const std::string& run_id, int limit) = 0;
  // Artifacts a step run produced or reused (by output name) and read (by input name), sorted
  // by that name.
  virtual Result<std::vector<std::pair<std::string, ArtifactRecord>>> StepOutputs(int64_t step_run_id) = 0;
  virtual Result<std::vector<std::pair<std::string, ArtifactRecord>>> StepInputs(int64_t step_run_id) = 0;
  // The digest of every recorded artifact, each once, sorted: what an artifact store must keep.
  virtual Result<std::vector<std::string>> ArtifactDigests() = 0;
  // Step runs that read an artifact, in the order they started.
  virtual Result<std::vector<StepRunRecord>> Consumers(int64_t artifact_id) = 0;

  // The latest completed (not cached) step run with this cache key, or nullopt.
  virtual Result<std::optional<StepRunRecord>> FindCacheHit(const std::string& cache_key) = 0;
  // The latest successful (completed or cached) run of `step` of `pipeline` outside `run_id`.
  virtual Result<std::optional<StepRunRecord>> PreviousStepRun(const std::string& pipeline,
                                                               const std::string& step,
                                                               const std::string& run_id) = 0;

  // Components, stacks, plugins and workspace settings. Creating what exists is AlreadyExists;
  // updating or deleting what does not is NotFound; deleting a component a stack uses is
  // FailedPrecondition (naming those stacks). The store sets created_at, updated_at and
  // registered_at. Lists are sorted by name (plugins by type, then flavor).
  virtual Status CreateComponent(const ComponentRecord& c) = 0;
  virtual Status UpdateComponent(const ComponentRecord& c) = 0;
  virtual Result<ComponentRecord> GetComponent(const std::string& type, const std::string& name) = 0;
  virtual Result<std::vector<ComponentRecord>> ListComponents(const std::string& type) = 0;
  virtual Status DeleteComponent(const std::string& type, const std::string& name) = 0;
  // A stack's components must exist (NotFound otherwise), on create and on update.
  virtual Status CreateStack(const StackRecord& s) = 0;
  virtual Status UpdateStack(const StackRecord& s) = 0;
  virtual Result<StackRecord> GetStack(const std::string& name) = 0;
  virtual Result<std::vector<StackRecord>> ListStacks() = 0;
  virtual Status DeleteStack(const std::string& name) = 0;
  // The value of `key`, or `fallback` when it is not set. SetSetting creates or replaces.
  virtual Result<std::string> GetSetting(const std::string& key, const std::string& fallback) = 0;
  virtual Status SetSetting(const std::string& key, const std::string& value) = 0;
  virtual Status PutPlugin(const PluginRecord& p) = 0;  // replaces one of the same type and flavor
  virtual Result<std::vector<PluginRecord>> ListPlugins() = 0;
  virtual Status DeletePlugin(const std::string& type, const std::string& flavor) = 0;

  // Users and tokens of the server. CreateUser: AlreadyExists for a taken name. DeleteUser
  // deletes the user's tokens too. CreateToken: NotFound for an unknown user, AlreadyExists for a
  // taken id or hash. FindToken: by the hash of its secret, NotFound when none has it.
  // ListTokens: "" for every user's, newest first. TouchToken records a use (no error for a
  // token deleted meanwhile).
  virtual Status CreateUser(const UserRecord& u) = 0;
  virtual Result<UserRecord> GetUser(const std::string& name) = 0;
  virtual Result<std::vector<UserRecord>> ListUsers() = 0;
  virtual Status DeleteUser(const std::string& name) = 0;
  virtual Status CreateToken(const TokenRecord& t) = 0;
  virtual Result<TokenRecord> FindToken(const std::string& hash) = 0;
  virtual Result<std::vector<TokenRecord>> ListTokens(const std::string& user) = 0;
  virtual Status DeleteToken(const std::string& id) = 0;
  virtual Status TouchToken(const std::string& id, int64_t when) = 0;

  // Schedules. CreateSchedule: AlreadyExists for a taken name. UpdateSchedule replaces what a person
  // sets (not created_at, last_fire or last_run, which only AdvanceSchedule moves; NotFound for an
  // unknown name). ListSchedules: by name. AdvanceSchedule moves
  // last_fire from `expected` to `fire` (and sets last_run when `run_id` is not "") only while it
  // is still `expected`, so that of two servers looking at one store one fires each time: false
  // when another moved it first.
  virtual Status CreateSchedule(const ScheduleRecord& s) = 0;
  virtual Result<ScheduleRecord> GetSchedule(const std::string& name) = 0;
  virtual Result<std::vector<ScheduleRecord>> ListSchedules() = 0;
  virtual Status UpdateSchedule(const ScheduleRecord& s) = 0;
  virtual Status DeleteSchedule(const std::string& name) = 0;
  virtual Result<bool> AdvanceSchedule(const std::string& name, int64_t expected, int64_t fire,
                                       const std::string& run_id) = 0;

  // Mean duration (ended_at - started_at) of the completed attempts of each step in the
  // pipeline's five most recent runs (for critical paths); steps with none are left out.
  virtual Result<std::vector<std::pair<std::string, double>>> StepDurations(const std::string& pipeline) = 0;

  // Keeps a copy of a log file of run `run_id` (`file`: a name like `train.1.log`) where the
  // store's readers can read it, for a store whose readers are not on the machine that writes
  // the log (a server). `bytes` are appended when `offset` is the copy's size, and nothing is
  // written otherwise; the copy's size afterwards comes back, so a sender resumes where the copy
  // ends and a repeated append does nothing. A database keeps no copies (FailedPrecondition):
  // its readers read the logs where the runs wrote them.
  virtual Result<int64_t> AppendRunLog(const std::string& run_id, const std::string& file,
                                       int64_t offset, const std::string& bytes) {
    (void)run_id, (void)file, (void)offset, (void)bytes;
    return FailedPrecondition("this metadata store keeps no copies of logs");
  }
};

}  // namespace baton
