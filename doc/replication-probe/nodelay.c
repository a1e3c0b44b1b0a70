#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
static void nd(int fd){int one=1; setsockopt(fd,IPPROTO_TCP,TCP_NODELAY,&one,sizeof one);}
int connect(int fd,const struct sockaddr*a,socklen_t l){static int(*r)(int,const struct sockaddr*,socklen_t); if(!r) r=dlsym(RTLD_NEXT,"connect"); nd(fd); return r(fd,a,l);}
int accept(int fd,struct sockaddr*a,socklen_t*l){static int(*r)(int,struct sockaddr*,socklen_t*); if(!r) r=dlsym(RTLD_NEXT,"accept"); int c=r(fd,a,l); if(c>=0) nd(c); return c;}
