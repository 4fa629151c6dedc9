#pragma once
// Metadata records as JSON objects, every field by its name, for what carries records whole:
// run archives (`baton runs export`) and the server's store API (store/remote/). A record read
// back is the record written: nothing is formatted or dropped on the way.

#include <string>

#include <nlohmann/json.hpp>

#include "baton/metadata_store.h"

namespace baton {

using Json = nlohmann::json;

Json RecordJson(const RunRecord& r);
Json RecordJson(const StepRunRecord& r);
Json RecordJson(const ArtifactRecord& r);
Json RecordJson(const ComponentRecord& r);
Json RecordJson(const StackRecord& r);
Json RecordJson(const PluginRecord& r);
Json RecordJson(const UserRecord& r);
Json RecordJson(const TokenRecord& r);
Json RecordJson(const ScheduleRecord& r);
Json RecordJson(const InputUse& r);
Json RecordJson(const OutputUse& r);

// Reads the fields `j` has into `*r`; those it lacks keep their values. Returns "" when every
// field present had a value of the right type, else the name of the first that did not
// ("(not an object)" when `j` is not an object).
std::string ReadRecord(const Json& j, RunRecord* r);
std::string ReadRecord(const Json& j, StepRunRecord* r);
std::string ReadRecord(const Json& j, ArtifactRecord* r);
std::string ReadRecord(const Json& j, ComponentRecord* r);
std::string ReadRecord(const Json& j, StackRecord* r);
std::string ReadRecord(const Json& j, PluginRecord* r);
std::string ReadRecord(const Json& j, UserRecord* r);
std::string ReadRecord(const Json& j, TokenRecord* r);
std::string ReadRecord(const Json& j, ScheduleRecord* r);
std::string ReadRecord(const Json& j, InputUse* r);
std::string ReadRecord(const Json& j, OutputUse* r);

}  // namespace baton
