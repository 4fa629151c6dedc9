// The S3 client against a scripted HTTP server: which failures it retries and how often, what
// its errors say, that every request is signed with its payload hash, that connections are kept,
// and that a download cut short starts its sink over.

#include "store/s3/s3_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

namespace baton::s3 {
namespace {

// An HTTP server on 127.0.0.1 that answers requests with scripted responses, in order, and keeps
// what it was asked. A response "" closes the connection instead of answering; a response that
// ends in "|CUT" is sent without that marker and the connection is closed right after.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::vector<std::string> responses) : responses_(std::move(responses)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 8);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  int connections() const { return connections_; }

 private:
  void Serve() {
    for (;;) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      connections_++;
      while (Answer(c)) {
      }
      ::close(c);
    }
  }

  // Reads one request and answers it; false when the connection is to be closed.
  bool Answer(int c) {
    std::string in;
    char buf[65536];
    size_t head_end;
    while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
      const ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) return false;
      in.append(buf, static_cast<size_t>(n));
    }
    size_t length = 0;
    if (size_t at = in.find("Content-Length: "); at != std::string::npos && at < head_end)
      length = std::stoul(in.substr(at + 16));
    while (in.size() < head_end + 4 + length) {
      const ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) return false;
      in.append(buf, static_cast<size_t>(n));
    }
    std::string response;
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(in);
      if (next_ >= responses_.size()) return false;
      response = responses_[next_++];
    }
    if (response.empty()) return false;
    const bool cut = response.size() > 4 && response.compare(response.size() - 4, 4, "|CUT") == 0;
    if (cut) response.resize(response.size() - 4);
    (void)!::write(c, response.data(), response.size());
    return !cut;
  }

  std::vector<std::string> responses_;
  size_t next_ = 0;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> requests_;
  std::atomic<int> connections_{0};
};

std::string Http(int status, const std::string& body, const std::string& extra = "") {
  return "HTTP/1.1 " + std::to_string(status) +
         " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
}

std::string S3Error(const std::string& code, const std::string& message) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + code + "</Code><Message>" +
         message + "</Message><RequestId>r</RequestId></Error>";
}

ClientOptions Options(const std::string& endpoint, int retries) {
  ClientOptions o;
  o.endpoint = endpoint;
  o.credentials = {"AKID", "SECRET", ""};
  o.retries = retries;
  return o;
}

Request Get(const std::string& key) {
  Request r;
  r.bucket = "b";
  r.key = key;
  return r;
}

TEST(S3Client, RetriesServerErrorsAndThrottlingThenSucceeds) {
  ScriptedServer server({Http(503, S3Error("SlowDown", "Please reduce your request rate.")),
                         Http(500, S3Error("InternalError", "oops")), Http(429, ""),
                         Http(200, "the body")});
  Client client(Options(server.endpoint(), 3));
  auto r = client.Send(Get("k"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "the body");
  ASSERT_EQ(server.requests().size(), 4u);
  for (const auto& req : server.requests()) {
    EXPECT_EQ(req.rfind("GET /b/k HTTP/1.1\r\n", 0), 0u) << req;
    EXPECT_NE(req.find("x-amz-content-sha256: "
                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
              std::string::npos);
    EXPECT_NE(req.find("Authorization: AWS4-HMAC-SHA256 Credential=AKID/"), std::string::npos);
    EXPECT_NE(req.find("SignedHeaders=host;x-amz-content-sha256;x-amz-date"), std::string::npos);
  }
  EXPECT_EQ(server.connections(), 1) << "the connection was not kept";
}

TEST(S3Client, GivesUpAfterItsRetriesWithTheLastError) {
  ScriptedServer server({Http(503, S3Error("SlowDown", "slow")),
                         Http(503, S3Error("SlowDown", "slow")),
                         Http(503, S3Error("ServiceUnavailable", "down")), Http(200, "")});
  Client client(Options(server.endpoint(), 2));
  auto r = client.Send(Get("k"));
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(r.status().message(),
            server.endpoint() +
                " is unavailable for bucket b, key k: ServiceUnavailable (down); gave up after 3 "
                "attempts");
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(S3Client, DoesNotRetryARefusal) {
  ScriptedServer server({Http(403, S3Error("InvalidAccessKeyId",
                                           "The AWS Access Key Id you provided does not exist "
                                           "in our records.")),
                         Http(200, "")});
  Client client(Options(server.endpoint(), 5));
  auto r = client.Send(Get("k"));
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(r.status().message(),
            "access denied by " + server.endpoint() +
                " for bucket b, key k: InvalidAccessKeyId (The AWS Access Key Id you provided "
                "does not exist in our records.)");
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(S3Client, AHeadErrorIsExplainedByTheSameGet) {
  ScriptedServer server({Http(403, ""), Http(403, S3Error("SignatureDoesNotMatch", ""))});
  Client client(Options(server.endpoint(), 2));
  Request r = Get("k");
  r.method = "HEAD";
  auto resp = client.Send(r, {404});
  EXPECT_EQ(resp.status().message(), "access denied by " + server.endpoint() +
                                         " for bucket b, key k: SignatureDoesNotMatch");
  ASSERT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(server.requests()[1].rfind("GET /b/k", 0), 0u);
  EXPECT_NE(server.requests()[1].find("Range: bytes=0-0"), std::string::npos);
}

TEST(S3Client, RetriesBrokenConnectionsAndStartsTheSinkOver) {
  ScriptedServer server(
      {"", Http(200, "0123456789").substr(0, Http(200, "0123456789").size() - 5) + "|CUT",
       Http(200, "0123456789")});
  Client client(Options(server.endpoint(), 3));
  std::string got;
  int restarts = 0;
  Request r = Get("k");
  r.sink = [&](std::string_view d) {
    got.append(d.data(), d.size());
    return Status::Ok();
  };
  r.restart = [&] {
    got.clear();
    restarts++;
  };
  auto resp = client.Send(r);
  ASSERT_TRUE(resp.ok()) << resp.status().ToString();
  EXPECT_EQ(got, "0123456789");
  EXPECT_EQ(restarts, 2);
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(S3Client, SaysWhenTheServerCannotBeReached) {
  int port;
  {
    ScriptedServer closed({});
    port = std::stoi(closed.endpoint().substr(17));
  }
  Client client(Options("http://127.0.0.1:" + std::to_string(port), 1));
  auto r = client.Send(Get("k"));
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  const std::string m = r.status().message();
  EXPECT_EQ(m.rfind("cannot reach http://127.0.0.1:" + std::to_string(port) +
                        " for bucket b, key k (GET): ",
                    0),
            0u)
      << m;
  EXPECT_NE(m.find("gave up after 2 attempts"), std::string::npos) << m;
}

TEST(S3Client, SignsBodiesAndSessionTokens) {
  ScriptedServer server({Http(200, "")});
  ClientOptions o = Options(server.endpoint(), 0);
  o.credentials.session_token = "TOKEN";
  Client client(o);
  Request r;
  r.method = "PUT";
  r.bucket = "b";
  r.key = "a b/c+d";
  r.body = "hello";
  r.headers = {{"x-amz-meta-baton-kind", "file"}};
  ASSERT_TRUE(client.Send(r).ok());
  const std::string req = server.requests().at(0);
  EXPECT_EQ(req.rfind("PUT /b/a%20b/c%2Bd HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_NE(
      req.find(
          "x-amz-content-sha256: 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"),
      std::string::npos);
  EXPECT_NE(req.find("x-amz-security-token: TOKEN"), std::string::npos);
  EXPECT_NE(req.find("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-meta-baton-kind;x-"
                     "amz-security-token"),
            std::string::npos)
      << req;
  EXPECT_EQ(req.substr(req.size() - 5), "hello");
}

TEST(S3Client, AddressesBucketsByPathOrVirtualHost) {
  ScriptedServer server({Http(200, ""), Http(200, "")});
  // curl resolves *.localhost to the loopback address itself.
  ClientOptions o = Options("http://localhost:" + server.endpoint().substr(17), 0);
  o.virtual_host = true;
  Client client(o);
  Request r = Get("k");
  r.query = {{"list-type", "2"}, {"prefix", "a/b c"}};
  ASSERT_TRUE(client.Send(r).ok());
  const std::string req = server.requests().at(0);
  EXPECT_EQ(req.rfind("GET /k?list-type=2&prefix=a%2Fb%20c HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_NE(req.find("Host: b.localhost:"), std::string::npos) << req;
}

TEST(S3Client, ReadsXmlAndMapsErrors) {
  EXPECT_EQ(XmlValues("<L><Key>a&amp;b</Key><Key>&lt;c&gt;&#65;</Key></L>", "Key"),
            (std::vector<std::string>{"a&b", "<c>A"}));
  EXPECT_EQ(XmlValue("<x/>", "Key"), "");
  EXPECT_EQ(XmlEscape("a<&>\"'"), "a&lt;&amp;&gt;&quot;&apos;");
  ErrorInfo e = ParseError(S3Error("NoSuchKey", "The specified key does not exist."));
  EXPECT_EQ(e.code, "NoSuchKey");
  EXPECT_EQ(ParseError("<html>proxy error</html>").code, "");
  EXPECT_EQ(ErrorStatus(404, e, "E", "bucket b, key k").code(), Code::kNotFound);
  EXPECT_EQ(ErrorStatus(404, {"NoSuchBucket", "x"}, "E", "bucket b, key k").message(),
            "E has no bucket b: NoSuchBucket (x)");
  EXPECT_EQ(ErrorStatus(503, {"SlowDown", ""}, "E", "bucket b").code(), Code::kUnavailable);
  EXPECT_EQ(ErrorStatus(403, {"RequestTimeTooSkewed", ""}, "E", "bucket b").code(),
            Code::kFailedPrecondition);
  EXPECT_EQ(ErrorStatus(400, {"MalformedXML", ""}, "E", "bucket b").code(), Code::kInternal);
  EXPECT_TRUE(IsRetryable(500, ""));
  EXPECT_TRUE(IsRetryable(400, "RequestTimeout"));
  EXPECT_TRUE(IsRetryable(429, ""));
  EXPECT_FALSE(IsRetryable(403, "AccessDenied"));
  EXPECT_FALSE(IsRetryable(404, "NoSuchKey"));
}

}  // namespace
}  // namespace baton::s3
