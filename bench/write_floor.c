/* The machine's floor for one replicated, fsynced write at one client.
 *
 * Why: the one-client write latency of any Raft cluster on a machine is bounded below by its
 * disk's fdatasync, its loopback round trips and the wake-ups of idle processes. This program
 * does only that work, in C: a client, a leader and two followers, separate processes, TCP on
 * 127.0.0.1 with TCP_NODELAY. Per write the client sends 100 bytes to the leader; the leader
 * sends them to both followers, then writes and fdatasyncs its own log; each follower writes
 * and fdatasyncs its log and acks; the leader answers once its own fdatasync and one ack are
 * done (a majority of three). No Raft logic, no SQL. The logs are preallocated and synced
 * first, so each fdatasync writes data only (as RocksDB's recycled WAL files do). A raftsql
 * figure well above this one is the software's; one near it is the machine's.
 *
 *   gcc -O2 -o /tmp/write_floor bench/write_floor.c
 *   /tmp/write_floor DIR [writes] [gap_us]     (DIR on the disk the cluster uses)
 *
 * It prints p50 / p90 / p99 / max of the client's round trips. A gap between writes lets the
 * processes go idle, as a lone client with think time does. docs/benchmarks.md, nineteenth
 * round, has this machine's figures. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG 100
#define RECORD 4096         /* one block per record, as a log of small batches */
#define LOG_BYTES (16 << 20)
#define WARMUP 20           /* untimed first writes: the first waits for the logs' preallocation */

static void die(const char *what) {
    perror(what);
    exit(1);
}

static int no_delay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void read_all(int fd, void *buf, size_t n) {
    for (size_t got = 0; got < n;) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r <= 0)
            die("read");
        got += (size_t)r;
    }
}

static void write_all(int fd, const void *buf, size_t n) {
    if (write(fd, buf, n) != (ssize_t)n)
        die("write");
}

static int listen_any(int *port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 4))
        die("listen");
    getsockname(s, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return s;
}

static int dial(int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((unsigned short)port)};
    if (connect(s, (struct sockaddr *)&a, sizeof a))
        die("connect");
    return no_delay(s);
}

static int open_log(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        die("open");
    char *zeros = calloc(1, 1 << 20);
    for (int i = 0; i < LOG_BYTES >> 20; i++)
        write_all(fd, zeros, 1 << 20);
    if (fsync(fd))
        die("fsync");
    free(zeros);
    return fd;
}

static void append(int fd, long *offset, const char *record) {
    if (pwrite(fd, record, MSG, *offset) != MSG)
        die("pwrite");
    if (fdatasync(fd))
        die("fdatasync");
    *offset = (*offset + RECORD) % LOG_BYTES;
}

static void follower(int listener, const char *dir, const char *name, int writes) {
    int log = open_log(dir, name);
    int leader = no_delay(accept(listener, NULL, NULL));
    long offset = 0;
    char record[MSG];
    for (int k = 0; k < writes; k++) {
        read_all(leader, record, MSG);
        append(log, &offset, record);
        write_all(leader, record, 8);
    }
}

static void leader(int listener, const int follower_ports[2], const char *dir, int writes) {
    int log = open_log(dir, "leader.log");
    int peers[2] = {dial(follower_ports[0]), dial(follower_ports[1])};
    int client = no_delay(accept(listener, NULL, NULL));
    long offset = 0;
    char record[MSG], ack[8];
    int owed[2] = {0, 0}; /* acks not yet read; each follower acks in order */
    for (int k = 0; k < writes; k++) {
        read_all(client, record, MSG);
        for (int i = 0; i < 2; i++) {
            write_all(peers[i], record, MSG);
            owed[i]++;
        }
        append(log, &offset, record);
        int acked = 0;
        while (!acked) {
            struct pollfd p[2] = {{peers[0], POLLIN, 0}, {peers[1], POLLIN, 0}};
            poll(p, 2, -1);
            for (int i = 0; i < 2; i++) {
                if (p[i].revents & POLLIN) {
                    read_all(peers[i], ack, 8);
                    if (--owed[i] == 0)
                        acked = 1; /* this write's ack, from one follower: a majority */
                }
            }
        }
        write_all(client, record, 8);
    }
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [writes] [gap_us]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    int writes = argc > 2 ? atoi(argv[2]) : 3000;
    int gap_us = argc > 3 ? atoi(argv[3]) : 0;
    if (writes < 1 || gap_us < 0) {
        fprintf(stderr, "writes must be at least 1, gap_us at least 0\n");
        return 2;
    }
    int follower_ports[2], leader_port;
    for (int i = 0; i < 2; i++) {
        int listener = listen_any(&follower_ports[i]);
        if (fork() == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the client */
            follower(listener, dir, i ? "follower2.log" : "follower1.log", WARMUP + writes);
            return 0;
        }
    }
    int listener = listen_any(&leader_port);
    if (fork() == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        leader(listener, follower_ports, dir, WARMUP + writes);
        return 0;
    }
    int s = dial(leader_port); /* every listener exists already: no wait, no retry */
    char record[MSG];
    memset(record, 'x', MSG);
    double *ms = malloc((size_t)writes * sizeof *ms);
    for (int k = -WARMUP; k < writes; k++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        write_all(s, record, MSG);
        read_all(s, record, 8);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (k >= 0)
            ms[k] = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        if (gap_us)
            usleep((useconds_t)gap_us);
    }
    while (wait(NULL) > 0) {
    }
    qsort(ms, (size_t)writes, sizeof *ms, by_value);
    printf("%d writes, gap %d us: p50 %.3f ms, p90 %.3f, p99 %.3f, max %.3f\n", writes, gap_us,
           ms[writes / 2], ms[writes * 9 / 10], ms[writes * 99 / 100], ms[writes - 1]);
    return 0;
}
