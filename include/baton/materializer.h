#pragma once
// Materializers: how a typed value of an in-process C++ step becomes an artifact (a file or a
// directory in the content-addressed store) and back. The artifact records the materializer's
// name and the value's type, and a step that reads it as another type fails with both named.
//
// Built in: strings, integers, floating-point numbers, booleans, nlohmann::json, std::vector
// and std::map<std::string, ...> of those (all as JSON, materializer "json"), baton::Bytes (raw
// bytes), baton::File and baton::Directory (a path, copied in and handed out read-only).
//
// For a type of your own, specialize baton::Materializer:
//
//   template <> struct baton::Materializer<Matrix> {
//     static std::string Name() { return "matrix"; }      // how it is written
//     static std::string Type() { return "matrix"; }      // what it holds
//     static void Save(const Matrix& m, const std::string& path);   // write to `path` (a file or a directory)
//     static Matrix Load(const std::string& path);                  // read it back; throw on error
//   };

#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

namespace baton {

// Raw bytes.
struct Bytes {
  std::string data;
  bool operator==(const Bytes& o) const { return data == o.data; }
};
// A file: as an output, the path of a file the step wrote (baton copies it into the store); as an
// input, the path of the artifact to read.
struct File {
  std::string path;
};
// A directory, likewise.
struct Directory {
  std::string path;
};

namespace detail {

template <typename T>
struct JsonType {
  static constexpr bool value = false;
};
template <>
struct JsonType<std::string> {
  static constexpr bool value = true;
  static std::string Name() { return "string"; }
};
template <>
struct JsonType<bool> {
  static constexpr bool value = true;
  static std::string Name() { return "bool"; }
};
template <>
struct JsonType<int> {
  static constexpr bool value = true;
  static std::string Name() { return "int"; }
};
template <>
struct JsonType<long> {
  static constexpr bool value = true;
  static std::string Name() { return "int"; }
};
template <>
struct JsonType<long long> {
  static constexpr bool value = true;
  static std::string Name() { return "int"; }
};
template <>
struct JsonType<unsigned> {
  static constexpr bool value = true;
  static std::string Name() { return "uint"; }
};
template <>
struct JsonType<unsigned long> {
  static constexpr bool value = true;
  static std::string Name() { return "uint"; }
};
template <>
struct JsonType<float> {
  static constexpr bool value = true;
  static std::string Name() { return "float"; }
};
template <>
struct JsonType<double> {
  static constexpr bool value = true;
  static std::string Name() { return "float"; }
};
template <>
struct JsonType<nlohmann::json> {
  static constexpr bool value = true;
  static std::string Name() { return "json"; }
};
template <typename T>
struct JsonType<std::vector<T>> {
  static constexpr bool value = JsonType<T>::value;
  static std::string Name() { return "list<" + JsonType<T>::Name() + ">"; }
};
template <typename T>
struct JsonType<std::map<std::string, T>> {
  static constexpr bool value = JsonType<T>::value;
  static std::string Name() { return "map<string," + JsonType<T>::Name() + ">"; }
};

inline std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

inline void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
  f.close();
  if (!f) throw std::runtime_error("cannot write " + path);
}

// Copies a file or a directory tree (implemented in the library).
void CopyPath(const std::string& from, const std::string& to);

}  // namespace detail

template <typename T, typename Enable = void>
struct Materializer;  // no materializer for this type: specialize baton::Materializer<T>

template <typename T>
struct Materializer<T, std::enable_if_t<detail::JsonType<T>::value>> {
  static std::string Name() { return "json"; }
  static std::string Type() { return detail::JsonType<T>::Name(); }
  static void Save(const T& v, const std::string& path) { detail::WriteAll(path, nlohmann::json(v).dump() + "\n"); }
  static T Load(const std::string& path) {
    nlohmann::json j = nlohmann::json::parse(detail::ReadAll(path), nullptr, false);
    if (j.is_discarded()) throw std::runtime_error(path + " does not hold JSON");
    try {
      return j.get<T>();
    } catch (const nlohmann::json::exception& e) {
      throw std::runtime_error("cannot read " + path + " as " + Type() + ": " + e.what());
    }
  }
};

template <>
struct Materializer<Bytes> {
  static std::string Name() { return "bytes"; }
  static std::string Type() { return "bytes"; }
  static void Save(const Bytes& v, const std::string& path) { detail::WriteAll(path, v.data); }
  static Bytes Load(const std::string& path) { return Bytes{detail::ReadAll(path)}; }
};

template <>
struct Materializer<File> {
  static std::string Name() { return "file"; }
  static std::string Type() { return "file"; }
  static void Save(const File& v, const std::string& path) { detail::CopyPath(v.path, path); }
  static File Load(const std::string& path) { return File{path}; }
};

template <>
struct Materializer<Directory> {
  static std::string Name() { return "directory"; }
  static std::string Type() { return "directory"; }
  static void Save(const Directory& v, const std::string& path) { detail::CopyPath(v.path, path); }
  static Directory Load(const std::string& path) { return Directory{path}; }
};

}  // namespace baton
