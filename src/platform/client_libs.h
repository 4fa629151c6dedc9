#pragma once
// The PostgreSQL and HTTP client libraries (libpq, libcurl), loaded when a store first needs
// them instead of when baton starts. Linked at start-up they pull in some thirty more shared
// libraries (Kerberos, LDAP, TLS, ...), which cost every baton command, and every step that runs
// through `baton step`, several milliseconds of dynamic linking.
//
// Code calls libpq and libcurl as usual: client_libs.cc defines the functions it uses,
// each forwarding to the loaded library. Call Load*() before the first use to turn a missing
// library into an error; a forwarder called without it loads the library itself and aborts with
// a message if it cannot. BATON_LIBPQ and BATON_LIBCURL name other files to load instead.

#include <map>
#include <string>

#include "baton/status.h"

namespace baton {

// FailedPrecondition naming the library and the Debian package when it cannot be loaded.
Status LoadPostgresClient();
Status LoadHttpClient();
// The files of the client libraries this machine loads (soname -> path), for images that carry
// baton to other machines; those that cannot be loaded are left out.
std::map<std::string, std::string> ClientLibraryFiles();

}  // namespace baton
