// defines: GUARDED_BY, PT_GUARDED_BY, REQUIRES, REQUIRES_SHARED, EXCLUDES, ACQUIRE, RELEASE,
// TRY_ACQUIRE, CAPABILITY, SCOPED_CAPABILITY, RETURN_CAPABILITY, ASSERT_CAPABILITY, ACQUIRED_BEFORE,
// ACQUIRED_AFTER, NO_THREAD_SAFETY_ANALYSIS
//
// Lock discipline written where the compiler can check it (as leveldb's port/thread_annotations.h):
//   Mutex mutex_;
//   int64_t next_ GUARDED_BY(mutex_) = 0;  // read or written only while mutex_ is held
//   void advance() REQUIRES(mutex_);       // callers must hold mutex_
// Clang's -Wthread-safety checks them (the TRAINRT_THREAD_SAFETY_ANALYSIS build, and
// /work/devtools/check_tu_clang for one file); other compilers see nothing. libstdc++'s std::mutex
// carries no annotations, so locks the analysis should follow are core/mutex.h's Mutex/MutexLock.
// Reference: https://clang.llvm.org/docs/ThreadSafetyAnalysis.html
#pragma once

#if defined(__clang__)
#define TRAINRT_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define TRAINRT_THREAD_ANNOTATION(x)  // gcc: no analysis, the annotations are documentation
#endif

// A class whose objects are locks (e.g. CAPABILITY("mutex")).
#ifndef CAPABILITY
#define CAPABILITY(x) TRAINRT_THREAD_ANNOTATION(capability(x))
#endif

// An RAII class that holds a capability for its lifetime (MutexLock).
#ifndef SCOPED_CAPABILITY
#define SCOPED_CAPABILITY TRAINRT_THREAD_ANNOTATION(scoped_lockable)
#endif

// A member read or written only with the capability held.
#ifndef GUARDED_BY
#define GUARDED_BY(x) TRAINRT_THREAD_ANNOTATION(guarded_by(x))
#endif

// A pointer (or smart pointer) member whose pointee is used only with the capability held.
#ifndef PT_GUARDED_BY
#define PT_GUARDED_BY(x) TRAINRT_THREAD_ANNOTATION(pt_guarded_by(x))
#endif

// Lock order: this capability is taken before / after the listed ones.
#ifndef ACQUIRED_BEFORE
#define ACQUIRED_BEFORE(...) TRAINRT_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#endif
#ifndef ACQUIRED_AFTER
#define ACQUIRED_AFTER(...) TRAINRT_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#endif

// The caller must hold the capabilities (exclusively / at least shared).
#ifndef REQUIRES
#define REQUIRES(...) TRAINRT_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#endif
#ifndef REQUIRES_SHARED
#define REQUIRES_SHARED(...) TRAINRT_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#endif

// The function takes / lets go of the capabilities (none listed: `this`).
#ifndef ACQUIRE
#define ACQUIRE(...) TRAINRT_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#endif
#ifndef RELEASE
#define RELEASE(...) TRAINRT_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#endif
// Takes the capability only when it returns the first argument (e.g. true).
#ifndef TRY_ACQUIRE
#define TRY_ACQUIRE(...) TRAINRT_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#endif

// The caller must not hold the capabilities (the function takes them itself).
#ifndef EXCLUDES
#define EXCLUDES(...) TRAINRT_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#endif

// The function returns a reference to the capability.
#ifndef RETURN_CAPABILITY
#define RETURN_CAPABILITY(x) TRAINRT_THREAD_ANNOTATION(lock_returned(x))
#endif

// The function checks at run time that the capability is held; the analysis then assumes it is.
#ifndef ASSERT_CAPABILITY
#define ASSERT_CAPABILITY(x) TRAINRT_THREAD_ANNOTATION(assert_capability(x))
#endif

// Turns the analysis off inside one function (its callers are still checked against its
// annotations). Every use says why above it.
#ifndef NO_THREAD_SAFETY_ANALYSIS
#define NO_THREAD_SAFETY_ANALYSIS TRAINRT_THREAD_ANNOTATION(no_thread_safety_analysis)
#endif
