#pragma once
// The metadata store behind `baton server`: URIs `https://HOST:PORT` (and `http://` for a server
// on loopback). Each MetadataStore call is one request to the server's store API
// (store/remote/store_rpc.h), so every command, and the step entrypoint on any backend, records
// through the server exactly what it would record in a database it held credentials for.
//
// The token, first found of:
//   ?token_file=PATH in the URI     a file holding the token (a Kubernetes Secret mounted in a pod)
//   BATON_TOKEN                     the environment (a per-run token given to a step)
//   the credentials `baton login` saved for this server ($XDG_CONFIG_HOME/baton/credentials.json)
// `?ca=PATH` names a PEM bundle to verify the server's certificate with (default: the system's).
//
// Transport failures (the server restarting, a connection refused) and 503 answers are retried
// for up to `?retry_seconds=` (default 30) before a call fails Unavailable. A write whose answer
// was lost is not sent again: the caller gets Unavailable and decides.

#include <memory>

#include "baton/metadata_store.h"
#include "baton/stores.h"

namespace baton {

Result<std::unique_ptr<MetadataStore>> OpenRemoteStore(const StoreUri& uri);

// Where `baton login` keeps tokens: {"https://host:port": "TOKEN", ...}, in a directory of mode
// 0700, the file 0600.
std::string CredentialsPath();
// The server URL of a metadata URI or URL as credentials are keyed: scheme://host:port[/path],
// without a query or a trailing slash. InvalidArgument for one that is not http(s)://HOST.
Result<std::string> ServerBase(const std::string& url);
// Checks that the server at `url` answers and takes `token`, then keeps the token for it.
Status Login(const std::string& url, const std::string& token);
// Forgets the token kept for `url`; NotFound when there is none.
Status Logout(const std::string& url);

}  // namespace baton
