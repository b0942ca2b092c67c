// Where --report and --junit files go, and writing them without ever
// replacing a symlink, a device or a pipe (see ReportFile in report.hpp).

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <random>

#include "pgrace/error.hpp"
#include "pgrace/report.hpp"

namespace pgrace {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const std::string& path, const std::string& why) {
  throw usage_error("cannot write report " + path + ": " + why);
}

std::string errno_text() { return std::strerror(errno); }

// Refuses a symlink anywhere in `path` (and in the targets of its symlinks)
// that belongs to an account other than ours or root: whoever owns a link
// chooses what it points at, and could make us (perhaps root) overwrite
// their choice of file. Stops at the first missing component.
void check_symlink_owners(const std::string& report, const fs::path& path, int depth = 0) {
  if (depth > 40) fail(report, "too many levels of symbolic links");
  fs::path prefix;
  for (const auto& part : path) {
    prefix /= part;
    struct stat st {};
    if (lstat(prefix.c_str(), &st) != 0) return;  // missing from here on
    if (!S_ISLNK(st.st_mode)) continue;
    if (st.st_uid != geteuid() && st.st_uid != 0)
      fail(report, prefix.string() + " is a symlink owned by another account (uid " + std::to_string(st.st_uid) +
                       "); pgrace does not write through it: give the real path");
    std::string target(4096, '\0');
    const ssize_t n = readlink(prefix.c_str(), target.data(), target.size());
    if (n < 0) return;
    target.resize(static_cast<std::size_t>(n));
    const fs::path next = fs::path(target).is_absolute() ? fs::path(target) : prefix.parent_path() / target;
    check_symlink_owners(report, next, depth + 1);
  }
}

// `path` with its final component's symlinks followed (to a missing file,
// too), as an absolute path.
fs::path follow_links(const std::string& report, fs::path path) {
  for (int depth = 0;; ++depth) {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) break;
    if (depth > 40) fail(report, "too many levels of symbolic links");
    std::string target(4096, '\0');
    const ssize_t n = readlink(path.c_str(), target.data(), target.size());
    if (n < 0) fail(report, errno_text());
    target.resize(static_cast<std::size_t>(n));
    path = fs::path(target).is_absolute() ? fs::path(target) : path.parent_path() / target;
  }
  std::error_code ec;
  return fs::absolute(path, ec);
}

bool same_inode(const struct stat& a, int fd) {
  struct stat b {};
  return fstat(fd, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// How a report path is written.
enum class Kind {
  replace,   // temporary file + rename at `target`
  stream,    // our own stdout or stderr: write to `fd`
  in_place,  // a FIFO or character device: open and write
};

struct Resolved {
  Kind kind = Kind::replace;
  fs::path target;  // replace: the file to create or replace; in_place: the path to open
  int fd = -1;      // stream
  std::optional<struct stat> existing;
};

Resolved resolve(const std::string& path) {
  if (path.empty()) fail("''", "the path is empty: give a file name");
  check_symlink_owners(path, path);
  struct stat link {};
  const bool is_link = lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode);
  Resolved r;
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) fail(path, errno_text());
    // Missing (or a symlink to a missing file): created at the link's target.
    r.target = is_link ? follow_links(path, path) : fs::path(path);
    const fs::path name = r.target.filename();
    if (name.empty() || name == "." || name == "..") fail(path, "it names a directory: give a file name");
    return r;
  }
  r.existing = st;
  const bool regular = S_ISREG(st.st_mode);
  for (int fd : {1, 2})
    if ((is_link || !regular) && same_inode(st, fd)) {
      r.kind = Kind::stream;
      r.fd = fd;
      return r;
    }
  if (S_ISDIR(st.st_mode)) fail(path, "it is a directory: give a file name");
  if (S_ISBLK(st.st_mode)) fail(path, "it is a block device: pgrace never writes reports onto a device");
  if (S_ISSOCK(st.st_mode)) fail(path, "it is a socket: give a file, a FIFO or /dev/stdout");
  if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
    r.kind = Kind::in_place;
    r.target = path;
    return r;
  }
  if (!regular) fail(path, "it is not a regular file");
  r.target = is_link ? follow_links(path, path) : fs::path(path);
  return r;
}

// Checks that `dir` (or, if missing, its nearest existing ancestor, where
// write() will create it) is a directory we may create files in.
void check_directory(const std::string& report, fs::path dir) {
  if (dir.empty()) dir = ".";
  for (;;) {
    struct stat st {};
    if (stat(dir.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) fail(report, dir.string() + " is not a directory");
      if (faccessat(AT_FDCWD, dir.c_str(), W_OK | X_OK, AT_EACCESS) != 0)
        fail(report, dir.string() + ": " + errno_text());
      return;
    }
    if (errno != ENOENT || !dir.has_relative_path()) fail(report, dir.string() + ": " + errno_text());
    dir = dir.parent_path().empty() ? fs::path(".") : dir.parent_path();
  }
}

void write_all(const std::string& path, int fd, const std::string& content) {
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail(path, errno_text());
    done += static_cast<std::size_t>(n);
  }
}

// A name for a temporary file beside `target` that nobody can predict.
std::string temporary_name(const fs::path& target) {
  static std::mt19937_64 random{std::random_device{}()};
  return "." + target.filename().string() + ".tmp." + std::to_string(getpid()) + "." +
         std::to_string(random() % 1000000000);
}

// The write end of the FIFO at `path`, opened without waiting: a FIFO with
// no reader is refused (a blocking open would wait forever). Blocking again
// once open, so that a write waits for a slow reader.
std::shared_ptr<const int> open_fifo(const std::string& path) {
  const int fd = open(path.c_str(), O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0 && errno == ENXIO)
    fail(path, "it is a FIFO with no reader: start the reader first (e.g. cat " + path + " &)");
  if (fd < 0) fail(path, errno_text());
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return std::shared_ptr<const int>(new int(fd), [](const int* p) {
    close(*p);
    delete p;
  });
}

}  // namespace

ReportFile::ReportFile(std::string path) : path_(std::move(path)) {
  const Resolved r = resolve(path_);
  stdout_ = r.kind == Kind::stream && r.fd == 1;
  stderr_ = r.kind == Kind::stream && r.fd == 2;
  regular_ = r.kind == Kind::replace;
  if (r.kind == Kind::replace) check_directory(path_, r.target.parent_path());
  if (r.kind == Kind::in_place && faccessat(AT_FDCWD, path_.c_str(), W_OK, AT_EACCESS) != 0) fail(path_, errno_text());
  if (r.kind == Kind::in_place && S_ISFIFO(r.existing->st_mode)) fifo_ = open_fifo(path_);
  if (r.existing) {
    identity_ = std::to_string(r.existing->st_dev) + ":" + std::to_string(r.existing->st_ino);
  } else {
    std::error_code ec;
    identity_ = fs::weakly_canonical(fs::absolute(r.target, ec), ec).string();
    if (ec) identity_ = fs::absolute(r.target, ec).lexically_normal().string();
  }
}

bool ReportFile::same_file_as(const ReportFile& other) const { return identity_ == other.identity_; }

std::optional<std::string> ReportFile::beside(const std::string& suffix) const {
  if (!regular_) return std::nullopt;
  return path_ + suffix;
}

void ReportFile::write(const std::string& content) const {
  if (fifo_) return write_all(path_, *fifo_, content);
  const Resolved r = resolve(path_);
  switch (r.kind) {
    case Kind::replace:
      write_file_atomically(r.target.string(), content);
      return;
    case Kind::stream:
      std::cout.flush();
      std::cerr.flush();
      write_all(path_, r.fd, content);
      return;
    case Kind::in_place: {
      const int fd = open(r.target.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC);
      if (fd < 0) fail(path_, errno_text());
      struct stat st {};
      if (fstat(fd, &st) != 0 || !(S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode))) {
        close(fd);
        fail(path_, "it changed while pgrace ran (no longer a FIFO or character device)");
      }
      try {
        write_all(path_, fd, content);
      } catch (...) {
        close(fd);
        throw;
      }
      if (close(fd) != 0) fail(path_, errno_text());
      return;
    }
  }
}

void write_file_atomically(const std::string& path, const std::string& content) {
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(path, ec.message() + " (creating " + dir.string() + ")");
  // Everything happens relative to the directory opened once, so that
  // nobody can swap the directory (or plant a symlink) in between.
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) fail(path, errno_text());
  const std::string temporary = temporary_name(target);
  const int fd = openat(dir_fd, temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
  if (fd < 0) {
    const std::string why = errno_text();
    close(dir_fd);
    fail(path, why);
  }
  std::string error;
  try {
    write_all(path, fd, content);
  } catch (const Error& e) {
    error = e.what();
  }
  if (close(fd) != 0 && error.empty()) error = "cannot write report " + path + ": " + errno_text();
  if (error.empty() && renameat(dir_fd, temporary.c_str(), dir_fd, target.filename().c_str()) != 0)
    error =
        "cannot write report " + path + ": " + (errno == EISDIR ? "it is a directory: give a file name" : errno_text());
  if (!error.empty()) unlinkat(dir_fd, temporary.c_str(), 0);
  close(dir_fd);
  if (!error.empty()) throw usage_error(error);
}

}  // namespace pgrace
