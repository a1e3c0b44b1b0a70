// util/thread_annotations.h: clang's thread-safety annotations as macros.
//
// Under clang with -Wthread-safety (the clang stage of CI, `./dev.sh lint`),
// the compiler checks that a field marked GUARDED_BY(mu_) is only touched
// with mu_ held, that a function marked REQUIRES(mu_) is only called with it
// held, and that locks are taken in the declared order (ACQUIRED_AFTER).
// Under other compilers the macros expand to nothing.  The annotations only
// work on types that are themselves annotated as capabilities, which
// std::mutex in libstdc++ is not: use util/mutex.h's Mutex and MutexLock.
// Modelled on LevelDB's port/thread_annotations.h and clang's documentation.
#ifndef DURUS_UTIL_THREAD_ANNOTATIONS_H_
#define DURUS_UTIL_THREAD_ANNOTATIONS_H_

#if defined(__clang__)
#define DURUS_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define DURUS_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) DURUS_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY DURUS_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) DURUS_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) DURUS_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) DURUS_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) DURUS_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define REQUIRES(...) DURUS_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) DURUS_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) DURUS_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) DURUS_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) DURUS_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) DURUS_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) DURUS_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) DURUS_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) DURUS_THREAD_ANNOTATION(assert_capability(x))
#define RETURN_CAPABILITY(x) DURUS_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS DURUS_THREAD_ANNOTATION(no_thread_safety_analysis)

#endif  // DURUS_UTIL_THREAD_ANNOTATIONS_H_
