#include "store/postgres_db.h"

#include <libpq-fe.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "baton/format.h"
#include "baton/hash.h"
#include "platform/client_libs.h"

namespace baton {
namespace {

constexpr int kMaxRetries = 20;    // of a transaction after a serialization failure or deadlock
constexpr int kResolveTries = 50;  // reconnections to learn a lost commit's outcome...
constexpr int kResolveIntervalMs = 200;      // ...this far apart (10 s in all)
constexpr const char* kLockTimeout = "60s";  // longest wait for the store's write lock

// libpq's messages end with a newline and continue on tab-indented lines: one line.
std::string OneLine(const char* text) {
  std::string out;
  for (const char* p = text ? text : ""; *p != '\0'; ++p) {
    if (*p == '\n' || *p == '\t' || *p == '\r') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += *p;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string QuoteIdent(const std::string& name) {
  std::string q = "\"";
  for (char c : name) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string Encode(const std::string& s) { return PercentEncode(s); }

// The URI with its password, if any, left out: messages quote it.
std::string Shown(const StoreUri& uri) {
  const size_t at = uri.authority.rfind('@');
  if (at == std::string::npos) return uri.text.substr(0, uri.text.find('?'));
  std::string user = uri.authority.substr(0, at);
  user = user.substr(0, user.find(':'));
  return uri.scheme + "://" + user + "@" + uri.authority.substr(at + 1) + uri.path;
}

Status PasswordRefused(const StoreUri& uri) {
  return InvalidArgument(
      "the store URI " + Shown(uri) +
      " gives a password; baton records store URIs in step commands and snapshots, so it takes "
      "the password from PGPASSWORD or from a ~/.pgpass (or PGPASSFILE) entry instead");
}

// Notices (a schema that exists already...) are not for baton's users.
void IgnoreNotice(void*, const char*) {}

std::string ErrorText(pg_conn* conn, pg_result* r) {
  const char* m = r ? PQresultErrorMessage(r) : nullptr;
  if (m == nullptr || *m == '\0') m = conn ? PQerrorMessage(conn) : "no connection";
  return OneLine(m);
}

}  // namespace

Result<PgTarget> ParsePostgresUri(const StoreUri& uri) {
  BATON_RETURN_IF_ERROR(LoadPostgresClient());
  const size_t at = uri.authority.rfind('@');
  if (at != std::string::npos && uri.authority.substr(0, at).find(':') != std::string::npos)
    return PasswordRefused(uri);
  PgTarget t;
  t.schema = "public";
  std::string query;
  for (const auto& [key, value] : uri.query) {
    if (key == "password") return PasswordRefused(uri);
    if (key == "schema") {
      if (value.empty() || value.size() > 63)
        return InvalidArgument("schema= in store URI " + Shown(uri) +
                               " needs a name of 1 to 63 bytes");
      t.schema = value;
      continue;
    }
    query += (query.empty() ? "?" : "&") + Encode(key) + "=" + Encode(value);
  }
  // Scheme, user, hosts and database exactly as given; libpq parses them (lists of hosts,
  // [IPv6] addresses, sockets).
  t.conninfo = uri.text.substr(0, uri.text.find('?')) + query;
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(t.conninfo.c_str(), &err);
  if (options == nullptr) {
    std::string m = err ? OneLine(err) : "out of memory";
    PQfreemem(err);
    return InvalidArgument("bad PostgreSQL store URI " + Shown(uri) + ": " + m);
  }
  std::string host, port, db;
  bool password = false;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string k = o->keyword;
    if (k == "host" || (k == "hostaddr" && host.empty())) host = o->val;
    if (k == "port") port = o->val;
    if (k == "dbname") db = o->val;
    if (k == "password" && *o->val != '\0') password = true;
  }
  PQconninfoFree(options);
  if (password) return PasswordRefused(uri);
  t.where = (host.empty() ? "localhost" : host) + ":" + (port.empty() ? "5432" : port) + "/" + db;
  return t;
}

// ---- PgResult ----

PgResult& PgResult::operator=(PgResult&& o) noexcept {
  if (this != &o) {
    if (r_) PQclear(r_);
    r_ = std::exchange(o.r_, nullptr);
  }
  return *this;
}

PgResult::~PgResult() {
  if (r_) PQclear(r_);
}

int PgResult::rows() const { return r_ ? PQntuples(r_) : 0; }
int PgResult::columns() const { return r_ ? PQnfields(r_) : 0; }
bool PgResult::IsNull(int row, int col) const { return !r_ || PQgetisnull(r_, row, col); }
std::string PgResult::Text(int row, int col) const {
  if (IsNull(row, col)) return "";
  return std::string(PQgetvalue(r_, row, col), static_cast<size_t>(PQgetlength(r_, row, col)));
}
int64_t PgResult::Int(int row, int col) const {
  return IsNull(row, col) ? 0 : std::strtoll(PQgetvalue(r_, row, col), nullptr, 10);
}
double PgResult::Double(int row, int col) const {
  return IsNull(row, col) ? 0 : std::strtod(PQgetvalue(r_, row, col), nullptr);
}
int64_t PgResult::affected() const { return r_ ? std::strtoll(PQcmdTuples(r_), nullptr, 10) : 0; }

// ---- PgDb ----

PgDb::~PgDb() { Disconnect(); }

Status PgDb::Open(const PgTarget& target) {
  target_ = target;
  // The write lock of this store: a database-wide advisory lock number named after its schema.
  lock_key_ = static_cast<int64_t>(std::strtoull(
      Sha256Hex("baton metadata store " + target.schema).substr(0, 15).c_str(), nullptr, 16));
  lock_sql_ = "SELECT pg_advisory_xact_lock(" + std::to_string(lock_key_) + ")";
  begin_write_ = "BEGIN ISOLATION LEVEL READ COMMITTED; " + lock_sql_ + "; SELECT txid_current()";
  return Connect();
}

Status PgDb::Connect() {
  Disconnect();
  // Defaults first: what the URI says wins.
  const char* keywords[] = {"connect_timeout", "fallback_application_name", "client_encoding",
                            "dbname", nullptr};
  const char* values[] = {"10", "baton", "UTF8", target_.conninfo.c_str(), nullptr};
  conn_ = PQconnectdbParams(keywords, values, 1);
  if (conn_) PQsetNoticeProcessor(conn_, IgnoreNotice, nullptr);
  auto where = [&] {
    const char* h = conn_ ? PQhost(conn_) : nullptr;
    const char* p = conn_ ? PQport(conn_) : nullptr;
    const char* d = conn_ ? PQdb(conn_) : nullptr;
    if (h && *h && p && *p && d) target_.where = std::string(h) + ":" + p + "/" + d;
  };
  if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
    std::string m = conn_ ? OneLine(PQerrorMessage(conn_)) : "out of memory";
    where();
    Disconnect();
    if (m.find("password") != std::string::npos)
      m += " (baton takes the password from PGPASSWORD or a ~/.pgpass or PGPASSFILE entry)";
    return Unavailable("cannot connect to the PostgreSQL server at " + target_.where + ": " + m);
  }
  where();
  if (PQserverVersion(conn_) < 100000) {
    Disconnect();
    return FailedPrecondition("the PostgreSQL server at " + target_.where +
                              " is older than PostgreSQL 10, which baton's metadata store needs");
  }
  const std::string setup = "SET search_path TO " + QuoteIdent(target_.schema) +
                            "; SET lock_timeout = '" + kLockTimeout + "'";
  pg_result* r = PQexec(conn_, setup.c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  const std::string m = ok ? "" : ErrorText(conn_, r);
  PQclear(r);
  if (!ok) {
    Disconnect();
    return Unavailable("cannot set up the connection to the PostgreSQL server at " + target_.where +
                       ": " + m);
  }
  return Status::Ok();
}

void PgDb::Disconnect() {
  if (conn_) PQfinish(conn_);
  conn_ = nullptr;
  statements_.clear();
  in_txn_ = false;
  savepoints_ = 0;
}

Status PgDb::EnsureConnected() {
  if (conn_ && PQstatus(conn_) == CONNECTION_OK) return Status::Ok();
  return Connect();
}

bool PgDb::ConnectionLost() const { return conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK; }

int PgDb::BackendPid() const { return conn_ ? PQbackendPID(conn_) : 0; }

pg_result* PgDb::Send(const std::string& sql, const PgParams* params) {
  if (params == nullptr) return PQexec(conn_, sql.c_str());
  auto it = statements_.find(sql);
  const int n = static_cast<int>(params->values().size());
  if (it == statements_.end()) {
    const std::string name = "baton_" + std::to_string(next_statement_++);
    pg_result* r = PQprepare(conn_, name.c_str(), sql.c_str(), n, nullptr);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) return r;  // the caller reports it
    PQclear(r);
    it = statements_.emplace(sql, name).first;
  }
  std::vector<const char*> values;
  values.reserve(params->values().size());
  for (const auto& v : params->values()) values.push_back(v.c_str());
  return PQexecPrepared(conn_, it->second.c_str(), n, values.data(), nullptr, nullptr, 0);
}

Status PgDb::ErrorOf(pg_result* r, const std::string& what) {
  const char* state_field = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const std::string state = state_field ? state_field : "";
  const std::string msg = "metadata store: " + what + ": " + ErrorText(conn_, r);
  auto is = [&](const char* prefix) { return state.rfind(prefix, 0) == 0; };
  retryable_ = state == "40001" || state == "40P01";
  if (retryable_) return Unavailable(msg);
  if (state == "23505") return AlreadyExists(msg);
  if (state == "23503") return NotFound(msg + " (it names a record the store does not have)");
  if (is("23") || is("22")) return InvalidArgument(msg);
  if (state == "55P03")
    return Unavailable(msg + " (another baton process held the write lock of the store at " +
                       where() + " for over " + kLockTimeout + ")");
  if (is("53")) return ResourceExhausted(msg);
  if (is("08") || is("57P")) return Unavailable(msg);
  if (state == "42P01" || state == "42703" || state == "42883")
    return Internal(msg + " (is the store from another baton version?)");
  if (state == "42501") return FailedPrecondition(msg + " (the database user lacks a privilege)");
  return Internal(msg);
}

Status PgDb::LostConnection(const std::string& detail, const std::string& what) {
  const bool batch = batch_depth_ > 0;
  const bool txn = in_txn_;
  Disconnect();
  std::string m = "metadata store: lost the connection to the PostgreSQL server at " + where() +
                  " while trying to " + what + " (" + detail + ")";
  if (batch)
    m += "; none of the writes of the current batch were recorded";
  else if (txn)
    m += "; the write was not recorded";
  m += "; the store reconnects on its next call";
  Status s = Unavailable(m);
  if (batch && batch_error_.ok()) batch_error_ = s;
  return s;
}

Result<PgResult> PgDb::Run(const std::string& sql, const PgParams* params,
                           const std::string& what) {
  if (params)
    for (const auto& v : params->values())
      if (v.find('\0') != std::string::npos)
        return InvalidArgument("metadata store: " + what +
                               ": a PostgreSQL text value cannot hold a NUL byte");
  retryable_ = false;
  // Never on a new connection inside a transaction: that would leave the transaction.
  if (in_txn_ && ConnectionLost()) return LostConnection("the connection had failed", what);
  for (int attempt = 0;; ++attempt) {
    BATON_RETURN_IF_ERROR(EnsureConnected());
    pg_result* r = Send(sql, params);
    const ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return PgResult(r);
    if (ConnectionLost()) {
      const std::string detail = ErrorText(conn_, r);
      PQclear(r);
      // A statement outside a transaction is a read (writes are transactions): nothing happened,
      // so it goes again on a new connection.
      if (!in_txn_ && params != nullptr && attempt == 0) {
        Disconnect();
        continue;
      }
      return LostConnection(detail, what);
    }
    Status s = ErrorOf(r, what);
    PQclear(r);
    // A failed statement outside a savepoint aborts the transaction: in a batch, all of it.
    if (in_txn_ && savepoints_ == 0 && batch_depth_ > 0 && batch_error_.ok() &&
        PQtransactionStatus(conn_) == PQTRANS_INERROR)
      batch_error_ = Status(
          s.code(), s.message() + "; none of the writes of the batch it was in were recorded");
    return s;
  }
}

Result<PgResult> PgDb::Execute(const std::string& sql, const PgParams& params,
                               const std::string& what) {
  if (!batch_error_.ok()) return batch_error_;
  // A batch's transaction begins with its first statement.
  if (batch_depth_ > 0 && !in_txn_) BATON_RETURN_IF_ERROR(Begin(begin_write_.c_str(), true));
  return Run(sql, &params, what);
}

Result<PgResult> PgDb::QueryText(const std::string& sql) {
  if (!batch_error_.ok()) return batch_error_;
  return Run(sql, nullptr, "run " + sql.substr(0, sql.find_first_of("(\n")));
}

Status PgDb::ExecScript(const std::string& sql) { return QueryText(sql).status(); }

Result<int64_t> PgDb::QueryInt(const std::string& sql) {
  BATON_ASSIGN_OR_RETURN(PgResult r, QueryText(sql));
  return r.rows() == 0 ? int64_t{0} : r.Int(0, 0);
}

Status PgDb::Begin(const char* begin_sql, bool write) {
  for (int attempt = 0;; ++attempt) {
    BATON_RETURN_IF_ERROR(EnsureConnected());
    pg_result* r = PQexec(conn_, begin_sql);
    const ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
      in_txn_ = true;
      savepoints_ = 0;
      txn_xid_ =
          write && st == PGRES_TUPLES_OK ? std::strtoll(PQgetvalue(r, 0, 0), nullptr, 10) : 0;
      PQclear(r);
      return Status::Ok();
    }
    if (ConnectionLost()) {
      const std::string detail = ErrorText(conn_, r);
      PQclear(r);
      Disconnect();
      // Nothing was written: the transaction had not begun.
      if (attempt == 0) continue;
      return Unavailable("metadata store: lost the connection to the PostgreSQL server at " +
                         where() + " while starting a transaction (" + detail +
                         "); nothing was recorded");
    }
    Status s = ErrorOf(r, write ? "take the write lock of the store" : "start a transaction");
    PQclear(r);
    if (PQtransactionStatus(conn_) != PQTRANS_IDLE) PQclear(PQexec(conn_, "ROLLBACK"));
    return s;
  }
}

Status PgDb::Commit() {
  pg_result* r = PQexec(conn_, "COMMIT");
  in_txn_ = false;
  savepoints_ = 0;
  const ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK) {
    // COMMIT of a transaction that failed earlier answers ROLLBACK.
    const bool rolled_back = std::string(PQcmdStatus(r)) == "ROLLBACK";
    PQclear(r);
    if (rolled_back)
      return Internal("metadata store: the transaction was rolled back instead of committed");
    return Status::Ok();
  }
  if (ConnectionLost()) {
    const std::string detail = ErrorText(conn_, r);
    PQclear(r);
    return ResolveLostCommit(detail);
  }
  Status s = ErrorOf(r, "commit");
  PQclear(r);
  return s;
}

void PgDb::Rollback() {
  if (!in_txn_) return;
  in_txn_ = false;
  savepoints_ = 0;
  if (conn_ == nullptr) return;
  PQclear(PQexec(conn_, "ROLLBACK"));
  // A connection lost meanwhile rolled back on the server anyway.
  if (ConnectionLost()) Disconnect();
}

Status PgDb::ResolveLostCommit(const std::string& detail) {
  const int64_t xid = txn_xid_;
  Disconnect();
  const std::string lost = "metadata store: lost the connection to the PostgreSQL server at " +
                           where() + " while committing (" + detail + ")";
  std::string why = "no transaction id";
  for (int i = 0; xid != 0 && i < kResolveTries; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(kResolveIntervalMs));
    Status c = Connect();
    if (!c.ok()) {
      why = c.message();
      continue;
    }
    PgParams p;
    p.Add(xid);
    pg_result* r = Send("SELECT txid_status($1)", &p);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
      const std::string status = PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0);
      PQclear(r);
      if (status == "committed") return Status::Ok();
      if (status == "aborted")
        return Unavailable(lost + "; the server rolled the write back, so it was not recorded");
      if (status == "in progress") {
        why = "the transaction was still in progress";
        continue;
      }
      why = "the server no longer knows the transaction";
      break;
    }
    why = ErrorText(conn_, r);
    PQclear(r);
    if (!ConnectionLost()) break;
    Disconnect();
  }
  return Unavailable(lost + "; whether the write was recorded is unknown (" + why +
                     "); a repeated write is refused where it would record something twice");
}

Status PgDb::Standalone(const std::function<Status()>& f) {
  for (int attempt = 0;; ++attempt) {
    BATON_RETURN_IF_ERROR(Begin(begin_write_.c_str(), true));
    Status s = f();
    if (s.ok() && in_txn_)
      s = Commit();
    else
      Rollback();
    if (s.ok() || !retryable_ || attempt >= kMaxRetries) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(2 + attempt * 3));
  }
}

Result<std::string> PgDb::Prepared(const std::string& sql, int params, const std::string& what) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) return it->second;
  const std::string name = "baton_" + std::to_string(next_statement_++);
  pg_result* r = PQprepare(conn_, name.c_str(), sql.c_str(), params, nullptr);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) {
    Status s = ConnectionLost() ? LostConnection(ErrorText(conn_, r), what) : ErrorOf(r, what);
    PQclear(r);
    return s;
  }
  PQclear(r);
  return statements_.emplace(sql, name).first->second;
}

Result<std::vector<PgResult>> PgDb::WriteAll(const std::vector<PgStatement>& statements) {
  std::vector<PgResult> out;
  if (in_txn_ || batch_depth_ > 0) {
    BATON_RETURN_IF_ERROR(Txn([&]() -> Status {
      out.clear();
      for (const PgStatement& st : statements) {
        BATON_ASSIGN_OR_RETURN(PgResult r, Execute(st.sql, st.params, st.what));
        out.push_back(std::move(r));
      }
      return Status::Ok();
    }));
    return out;
  }
  for (const PgStatement& st : statements)
    for (const auto& v : st.params.values())
      if (v.find('\0') != std::string::npos)
        return InvalidArgument("metadata store: " + st.what +
                               ": a PostgreSQL text value cannot hold a NUL byte");
  for (int attempt = 0;; ++attempt) {
    out.clear();
    retryable_ = false;
    Status s = Pipelined(statements, &out);
    if (s.ok()) return out;
    if (!retryable_ || attempt >= kMaxRetries) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(2 + attempt * 3));
  }
}

Status PgDb::Pipelined(const std::vector<PgStatement>& statements, std::vector<PgResult>* out) {
  // The transaction and its id first, without the lock: a connection found lost here has
  // written nothing, and Begin tries once more on a new one.
  BATON_RETURN_IF_ERROR(Begin("BEGIN ISOLATION LEVEL READ COMMITTED; SELECT txid_current()", true));
  std::vector<std::string> names;
  for (const PgStatement& st : statements) {
    auto name = Prepared(st.sql, static_cast<int>(st.params.values().size()), st.what);
    if (!name.ok()) {
      Rollback();
      return name.status();
    }
    names.push_back(std::move(*name));
  }
  if (PQenterPipelineMode(conn_) != 1) {
    Rollback();
    return Internal("metadata store: cannot enter libpq's pipeline mode: " + ErrorText(conn_, nullptr));
  }
  // What is sent: the lock, the statements, COMMIT, then a sync point.
  bool sent = PQsendQueryParams(conn_, lock_sql_.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
  for (size_t i = 0; sent && i < statements.size(); ++i) {
    const auto& values = statements[i].params.values();
    std::vector<const char*> v;
    v.reserve(values.size());
    for (const auto& x : values) v.push_back(x.c_str());
    sent = PQsendQueryPrepared(conn_, names[i].c_str(), static_cast<int>(v.size()), v.data(),
                               nullptr, nullptr, 0) == 1;
  }
  const bool commit_sent =
      sent && PQsendQueryParams(conn_, "COMMIT", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
  sent = commit_sent && PQpipelineSync(conn_) == 1;
  const std::string what = statements.empty() ? "write" : statements.front().what;
  if (!sent) {
    // Nothing more can be read from a connection that took no more; a COMMIT that may have
    // gone out makes the outcome a question for the server.
    const std::string detail = ErrorText(conn_, nullptr);
    if (commit_sent) return ResolveLostCommit(detail);  // committed: no answers (out is empty)
    return LostConnection(detail, what);
  }
  // The results: one for the lock, one per statement, one for COMMIT, each followed by a null;
  // after a failure the rest are PGRES_PIPELINE_ABORTED. Then the sync point's.
  Status failure;
  bool committed = false;
  const size_t total = statements.size() + 2;
  for (size_t q = 0; q < total; ++q) {
    pg_result* r = PQgetResult(conn_);
    if (r == nullptr || ConnectionLost()) {
      const std::string detail = ErrorText(conn_, r);
      PQclear(r);
      // A statement that failed ended the transaction: nothing was committed.
      if (!failure.ok()) {
        (void)LostConnection(detail, what);
        return failure;
      }
      Status resolved = ResolveLostCommit(detail);
      // Committed: the answers that did not arrive are left out (WriteAll's callers read again).
      if (resolved.ok() && out->size() < statements.size()) out->clear();
      return resolved;
    }
    const ExecStatusType st = PQresultStatus(r);
    const std::string step = q == 0                 ? "take the write lock of the store"
                             : q == total - 1       ? "commit"
                                                    : statements[q - 1].what;
    if (st == PGRES_FATAL_ERROR) {
      if (failure.ok()) failure = ErrorOf(r, step);
      PQclear(r);
    } else if (st == PGRES_PIPELINE_ABORTED) {
      PQclear(r);
    } else if (q == total - 1) {
      // COMMIT of a transaction that failed earlier answers ROLLBACK.
      committed = st == PGRES_COMMAND_OK && std::string(PQcmdStatus(r)) == "COMMIT";
      PQclear(r);
    } else if (q == 0) {
      PQclear(r);
    } else {
      out->emplace_back(r);
    }
    while (pg_result* extra = PQgetResult(conn_)) PQclear(extra);  // the null after each
  }
  pg_result* sync = PQgetResult(conn_);
  const bool synced = sync != nullptr && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  PQclear(sync);
  const bool left = synced && PQexitPipelineMode(conn_) == 1;
  in_txn_ = false;
  savepoints_ = 0;
  if (!left) {
    // A connection in a state this code does not know is not used again.
    const std::string detail = ErrorText(conn_, nullptr);
    Disconnect();
    if (!failure.ok()) return failure;
    if (committed) return Status::Ok();
    return Unavailable("metadata store: the PostgreSQL server at " + where() +
                       " answered a write out of order (" + detail + "); whether it was recorded is unknown");
  }
  if (!failure.ok()) {
    // The transaction is still open, failed: it ends here.
    if (PQtransactionStatus(conn_) != PQTRANS_IDLE) PQclear(PQexec(conn_, "ROLLBACK"));
    if (ConnectionLost()) Disconnect();
    return failure;
  }
  if (!committed) return Internal("metadata store: the transaction was rolled back instead of committed");
  return Status::Ok();
}

Status PgDb::InSavepoint(const std::function<Status()>& f) {
  if (!batch_error_.ok()) return batch_error_;
  if (!in_txn_) BATON_RETURN_IF_ERROR(Begin(begin_write_.c_str(), true));
  for (int attempt = 0;; ++attempt) {
    BATON_RETURN_IF_ERROR(Run("SAVEPOINT w", nullptr, "start a write").status());
    ++savepoints_;
    Status s = f();
    if (!in_txn_) return s;  // the connection was lost, and the transaction with it
    --savepoints_;
    if (s.ok()) return Run("RELEASE SAVEPOINT w", nullptr, "end a write").status();
    const bool retry = retryable_ && attempt < kMaxRetries;
    Status undone =
        Run("ROLLBACK TO SAVEPOINT w; RELEASE SAVEPOINT w", nullptr, "undo a failed write")
            .status();
    if (!undone.ok()) {
      if (batch_depth_ > 0 && batch_error_.ok()) batch_error_ = undone;
      return s;
    }
    if (!retry) return s;
  }
}

Status PgDb::ReadTransaction(const std::function<Status()>& f) {
  if (in_txn_ || batch_depth_ > 0) return f();
  BATON_RETURN_IF_ERROR(Begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", false));
  Status s = f();
  if (s.ok() && in_txn_) return Commit();
  Rollback();
  return s;
}

Status PgDb::StartBatch() {
  if (batch_depth_++ == 0) batch_error_ = Status::Ok();
  return Status::Ok();
}

Status PgDb::FinishBatch() {
  if (batch_depth_ == 0) return Status::Ok();
  if (--batch_depth_ > 0) return Status::Ok();
  Status error = std::exchange(batch_error_, Status::Ok());
  if (!error.ok()) {
    Rollback();
    return error;
  }
  if (!in_txn_) return Status::Ok();
  return Commit();
}

Status PgDb::Migrate(MigrationList migrations) {
  // Up to date already: nothing to change, no lock to take.
  BATON_ASSIGN_OR_RETURN(PgResult exists, Q("SELECT to_regclass('schema_version') IS NOT NULL",
                                            "read the schema version"));
  if (exists.Text(0, 0) == "t") {
    BATON_ASSIGN_OR_RETURN(int64_t version, SchemaVersion(*this));
    if (version == LatestVersion(migrations)) return Status::Ok();
  }
  return Txn([&]() -> Status {
    BATON_ASSIGN_OR_RETURN(PgResult schema, Q("SELECT 1 FROM pg_namespace WHERE nspname = $1",
                                              "look for the schema", target_.schema));
    if (schema.rows() == 0)
      BATON_RETURN_IF_ERROR(ExecScript("CREATE SCHEMA " + QuoteIdent(target_.schema)));
    return ApplyMigrations(*this, migrations,
                           "the metadata store at " + where() + " (schema " + target_.schema + ")");
  });
}

}  // namespace baton
