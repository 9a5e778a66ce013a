"""Generic timestamped text logs: the services around the platforms, searchable and
correlated instead of dead-lettered."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from collector.event import Record, iso_to_ms
from collector.parse import available_parsers, detect
from collector.parsers import text
from collector.parsers._base import ParseContext, ParseError


def test_spring_boot_console_layouts(parse_data):
    events, dead = parse_data("auto", "text/spring-boot.log")
    assert dead == []
    started, rejected, old = events
    assert {e.dataset for e in events} == {"generic.text"}
    assert {e.platform for e in events} == {"generic"}
    assert started.timestamp_ms == iso_to_ms("2025-05-10T01:34:33.608Z")
    assert started.service == "myapp"
    assert started.labels["thread"] == "main"
    assert started.labels["logger"] == "o.s.b.d.f.logexample.MyApplication"
    assert started.message.startswith("Starting MyApplication using Java 17.0.15")
    assert rejected.level == "error"
    assert rejected.message.startswith("Order rejected: orderId=PO-991, correlationId=")
    assert rejected.ids == ["order:PO-991", "correlation:7f3c9a12-5b6e-4c1d-9a8b-2e4f6a7b8c9d"]
    assert (rejected.trace_id, rejected.span_id) == ("803b448a0489f84084905d3093480352",
                                                     "3425f23bb2432450")
    assert rejected.error_type == "org.springframework.web.client.HttpServerErrorException$BadGateway"
    assert rejected.error_message == '502 Bad Gateway: "upstream connect error"'
    assert rejected.error_stack_trace.count("\n\tat ") == 2
    # Spring Boot 2: no application name; the thread is still the thread.
    assert old.service is None and old.labels["thread"] == "main"
    assert old.labels["logger"] == "org.apache.catalina.core.StandardEngine"
    assert old.timestamp_ms == iso_to_ms("2019-03-05T10:57:51.112Z")



def test_spring_cloud_sleuth_level_pattern(parse_data):
    """Spring Cloud Sleuth puts ``[app,traceId,spanId,exportable]`` after the level (its
    ``LOG_LEVEL_PATTERN``; lines 1-2 as its reference docs and a Spring Cloud book quote them),
    Sleuth 3 and Spring Boot 3 services copying it ``[app,traceId,spanId]``, ``[app,,]``
    outside any span. Before this change the bracket was taken for the thread, the PID for the
    logger and ``--- [thread] logger :`` kept in the message: the trace ID was never read."""
    events, dead = parse_data("auto", "text/spring-sleuth.log")
    assert dead == []
    docs, book, failed, started = events
    assert {e.dataset for e in events} == {"generic.text"}
    assert docs.service == "service1"
    assert (docs.trace_id, docs.span_id) == ("2485ec27856c56f4", "2485ec27856c56f4")
    assert docs.labels["thread"] == "nio-8081-exec-1"
    assert docs.labels["logger"] == "i.s.c.sleuth.docs.service1.Application"
    assert docs.message == "Hello from service1. Calling service2"
    assert book.service == "order-service" and book.trace_id == "9a3fef0169864e80"
    assert book.message.startswith("Products found: [")
    assert failed.level == "error" and failed.service == "orders"
    assert (failed.trace_id, failed.span_id) == ("6409a6c3a8f1f2a2b1e8d3c4f5a6b7c8",
                                                 "1a2b3c4d5e6f7a8b")
    assert failed.message == "SAP call failed: orderId=PO-7731"
    assert failed.ids == ["order:PO-7731"]
    assert failed.error_type == "java.net.SocketTimeoutException"
    assert started.service == "orders" and started.trace_id is None and started.span_id is None
    assert started.labels["thread"] == "main"
    assert started.message.startswith("Started OrdersApplication in 4.21 seconds")


def test_java_util_logging_simple_formatter_default(parse_data):
    """The JDK's ``SimpleFormatter`` default format (its javadoc:
    ``%1$tb %1$td, %1$tY %1$tl:%1$tM:%1$tS %1$Tp %2$s%n%4$s: %5$s%6$s%n``): the time and the
    source class and method on one line, ``LEVEL: message`` on the next, then the exception.
    Every line of it was dead-lettered as no_parser before this change: the error, its
    order ID and the correlation ID were never seen."""
    events, dead = parse_data("auto", "text/jul-simpleformatter.log")
    assert dead == []
    failed, started, retried = events
    assert {e.dataset for e in events} == {"generic.text"}
    assert failed.timestamp_ms == iso_to_ms("2024-03-18T18:52:42Z")  # no zone: the input's
    assert failed.level == "error" and failed.outcome == "failure"
    assert failed.labels["logger"] == "org.apache.catalina.core.StandardWrapperValve"
    assert failed.labels["method"] == "invoke"
    assert failed.message.startswith("Servlet.service() for servlet [dispatcher]")
    assert failed.ids == ["order:PO-77"]
    assert failed.error_type == "java.lang.NullPointerException"
    assert failed.error_stack_trace.count("\n\tat ") == 2
    assert started.level == "info" and started.timestamp_ms == iso_to_ms("2024-03-18T18:52:43Z")
    assert started.message == 'Starting ProtocolHandler ["http-nio-8080"]'
    assert retried.level == "warn"
    assert retried.ids == ["correlation:7f3c9a12-5b6e-4c1d-9a8b-2e4f6a7b8c9d"]


def test_karaf_pipes_layout(parse_data):
    """Apache Karaf's default pax-logging pattern (``%d{ISO8601} | %-5p | %-16t | %-32c{1} |
    %X{bundle.id} - %X{bundle.name} - %X{bundle.version} | %m%n``), as Camel on Karaf, Red
    Hat Fuse and ServiceMix write it. Before this change it was read as ActiveMQ's
    ``message | logger | thread``: the message became "qtp1-42 | DefaultErrorHandler", the
    real one a thread label, so its correlation ID and exception were never read."""
    events, dead = parse_data("auto", "text/karaf.log")
    assert dead == []
    started, failed, unbundled = events
    assert started.message == "Apache Camel 3.20.1 (orders-context) started in 312ms"
    assert started.labels["thread"] == "FelixStartLevel"
    assert started.labels["logger"] == "CamelContextActivator"
    assert started.labels["bundle"] == "67 - org.apache.camel.camel-core-engine - 3.20.1"
    assert failed.level == "error" and failed.labels["thread"] == "qtp1-42"
    assert failed.message.startswith("Failed delivery for (MessageId: 0A1B2C3D4E5F601-")
    assert "correlation:5d2a9c1e-8b7f-4e63-a1d0-3c4b5e6f7a81" in failed.ids
    assert failed.error_type == "java.net.ConnectException"
    assert unbundled.message == "Feature camel-sap is not available | the repository is unreachable"
    assert unbundled.labels["logger"] == "FeaturesServiceImpl" and "bundle" not in unbundled.labels

def test_activemq_pipes_and_tomcat_one_line_formatter(parse_data):
    events, dead = parse_data("auto", "text/activemq.log")
    assert dead == []
    starting, dropped = events
    assert starting.message == ("Apache ActiveMQ 5.18.3 (localhost, ID:mq-1-40415-1709287200000-0:1) "
                                "is starting")
    assert starting.labels["logger"] == "org.apache.activemq.broker.BrokerService"
    assert dropped.level == "warn"
    assert dropped.labels["thread"] == "ActiveMQ Transport: tcp:///10.1.2.3:51234@61616"
    events, dead = parse_data("auto", "text/catalina.out")
    assert dead == []
    version, failed = events
    assert version.timestamp_ms == iso_to_ms("2024-03-01T10:00:00.123Z")
    assert version.labels["logger"] == "org.apache.catalina.startup.VersionLoggerListener.log"
    assert failed.level == "error"  # java.util.logging's SEVERE
    assert failed.message.startswith("One or more listeners failed to start.")
    assert failed.outcome == "failure"


def test_python_logging_with_a_traceback(parse_data):
    events, dead = parse_data("auto", "text/python.log")
    assert dead == []
    polled, failed = events
    assert polled.labels["logger"] == "edi.poller" and polled.level == "info"
    assert polled.message == "polled 3 files from sftp://partner-acme/outbound"
    assert failed.ids == ["message:ACME-850-000123"]
    assert (failed.error_type, failed.error_message) == ("PermissionError",
                                                         "[Errno 13] Permission denied")
    assert failed.error_stack_trace.startswith("Traceback (most recent call last):")
    assert failed.message == "could not move file 850_000123.edi: messageId=ACME-850-000123"


def test_syslog_rfc3164_and_rfc5424(parse_data):
    events, dead = parse_data("auto", "text/syslog")
    assert dead == []
    assert {e.dataset for e in events} == {"generic.syslog"}
    su, haproxy, evnt = events
    # No year in RFC 3164: October is after the ingest month (March 2024), so last year.
    assert su.timestamp_ms == iso_to_ms("2023-10-11T22:14:15Z")
    assert (su.host, su.service, su.level) == ("mymachine", "su", "fatal")  # <34>: auth.crit
    assert su.labels["syslog_facility"] == "4"
    assert haproxy.timestamp_ms == iso_to_ms("2024-03-01T10:00:00Z")
    assert (haproxy.service, haproxy.labels["process_id"]) == ("haproxy", "2211")
    assert haproxy.message.startswith("Server api_backend/app2 is DOWN")
    assert evnt.timestamp_ms == iso_to_ms("2003-10-11T22:14:15.003Z")
    assert (evnt.host, evnt.service, evnt.level) == ("mymachine.example.com", "evntslog", "info")
    assert evnt.labels["syslog_msgid"] == "ID47" and "process_id" not in evnt.labels
    assert evnt.message == "An application event log entry..."


@pytest.mark.parametrize("line, fmt", [
    # Formats of their own keep their lines: the generic parser is asked last.
    ("[2024-03-01 10:00:00,123] INFO [KafkaServer id=1] started (kafka.server.KafkaServer)",
     "kafka-broker"),
    ("INFO  2024-03-01 10:00:00,123 [[MuleRuntime].uber.01: [order-api].order-main.CPU_LITE "
     "@5a1b2c3d] [processor: order-main/processors/0; event: 1-2] "
     "org.mule.runtime.core.internal.processor.LoggerMessageProcessor: hello", "mule"),
    ("2024/03/01 10:00:00 [error] 7#7: *1 connect() failed (111: Connection refused)",
     "nginx-error"),
    ("2024-03-01 10:00:00,123 INFO  [main] com.example.Foo - Processing order", "text"),
    ("2024/03/01 10:00:00 listening on :8080", "text"),
    ("no timestamp at all", None),
])
def test_ranked_after_every_specific_format(line, fmt):
    found = detect(line, available_parsers())
    assert (found.NAME if found else None) == fmt


def test_business_ids_from_named_pairs_only():
    ev = text.parse(Record(text="2024-03-01 10:00:00,123 INFO  [main] c.e.Svc - rejected: "
                                "orderId=PO-1 x-request-id: r-9 count=3 JMSMessageID=ID:mq-1:1"),
                    ParseContext())[0]
    assert ev.ids == ["order:PO-1", "request:r-9"]


def test_not_a_timestamped_line():
    assert not text.detect("\tat com.example.Foo.bar(Foo.java:42)")
    with pytest.raises(ParseError, match="not a timestamped log line"):
        text.parse(Record(text="hello world"), ParseContext())


def test_jboss_layout_of_wildfly_fuse_and_camel(parse_data):
    events, dead = parse_data("auto", "text/wildfly-server.log")
    assert dead == []
    started, failed = events
    assert started.labels == {"logger": "org.jboss.as", "thread": "Controller Boot Thread",
                              "event_code": "WFLYSRV0025"}
    assert started.message.startswith("WFLYSRV0025: WildFly Full 30.0.1.Final")
    assert failed.level == "error"
    assert failed.labels["thread"] == "Camel (camel-1) thread #3 - JmsConsumer[orders.in]"
    assert failed.message.startswith("Failed delivery for (MessageId: 5C3F2A1B-")
    assert failed.ids == ["message:5C3F2A1B-0000000000000001"]


def test_logger_followed_by_a_colon():
    """``%d %p [%t] %c: %m`` (Hadoop's and many Kafka clients' layout)."""
    ev = text.parse(Record(text="2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop."
                                "mapreduce.v2.app.MRAppMaster: Created MRAppMaster"),
                    ParseContext())[0]
    assert ev.labels == {"logger": "org.apache.hadoop.mapreduce.v2.app.MRAppMaster",
                         "thread": "main"}
    assert ev.message == "Created MRAppMaster"


def test_logback_default_layout_takes_the_day_it_is_read():
    """``%d{HH:mm:ss.SSS} [%thread] %-5level %logger{36} - %msg`` (Logback without a config,
    many Camel and Spring samples): the day is the reader's, or the one before for a time
    later than the reading (written before midnight, read after)."""
    now = iso_to_ms("2024-03-08T12:13:20Z")
    ctx = ParseContext(now_ms=now)
    (ev,) = text.parse(Record(text="10:00:00.123 [main] INFO  c.e.orders.App - started "
                                   "orderId=PO-5"), ctx)
    assert ev.timestamp_ms == iso_to_ms("2024-03-08T10:00:00.123Z")
    assert ev.labels == {"logger": "c.e.orders.App", "thread": "main"}
    assert ev.ids == ["order:PO-5"] and not ev.timestamp_estimated
    (late,) = text.parse(Record(text="23:59:59.000 [main] WARN  c.e.orders.App - late"), ctx)
    assert late.timestamp_ms == iso_to_ms("2024-03-07T23:59:59Z")
    assert text.detect("10:00:00.123 [main] INFO  c.e.orders.App - started")
    assert not text.detect("10:00:00.123 something else")


def test_spark_and_hadoop_two_digit_year_layouts(parse_data):
    """Spark's log4j default ``%d{yy/MM/dd HH:mm:ss} %p %c{1}: %m`` and HDFS's ``yyMMdd
    HHmmss thread LEVEL``: read with their own dates, not dead-lettered or stamped now."""
    events, dead = parse_data("auto", "text/spark-executor.log")
    assert dead == []
    registered, native, failed, hdfs = events
    assert registered.timestamp_ms == iso_to_ms("2017-06-09T20:10:40Z")
    assert registered.labels == {"logger": "executor.CoarseGrainedExecutorBackend"}
    assert registered.message == "Registered signal handlers for [TERM, HUP, INT]"
    assert (native.level, native.labels["logger"]) == ("warn", "NativeCodeLoader")
    assert failed.timestamp_ms == iso_to_ms("2017-06-09T20:11:11Z")
    assert failed.error_type == "java.io.FileNotFoundException"
    assert hdfs.timestamp_ms == iso_to_ms("2008-11-09T20:36:15Z")
    assert hdfs.labels == {"logger": "dfs.DataNode$PacketResponder", "thread": "148"}
    assert not any(e.timestamp_estimated for e in events)


@pytest.mark.parametrize("order, iso", [("ymd", "2017-06-09T20:10:40Z"),
                                         ("dmy", "2009-06-17T20:10:40Z"),
                                         ("mdy", "2009-06-17T20:10:40Z")])
def test_date_order_settles_a_two_digit_year(order, iso):
    line = ("17/06/09 20:10:40 INFO Executor: done" if order != "mdy"
            else "06/17/09 20:10:40 INFO Executor: done")
    (ev,) = text.parse(Record(text=line), ParseContext(date_order=order))
    assert ev.timestamp_ms == iso_to_ms(iso)


def test_a_bare_two_digit_year_date_is_not_a_record_start():
    assert not text.detect("17/06/09 20:10:40 something without a level")
    assert not text.detect("081109 203615 a line of numbers")


@pytest.mark.parametrize("stamp, now, iso", [
    # Four days ahead of the reading: written last December, not in four days.
    ("Dec 10 06:55:46", "2026-12-06T18:23:00Z", "2025-12-10T06:55:46Z"),
    ("Dec  6 10:00:00", "2026-12-06T18:23:00Z", "2026-12-06T10:00:00Z"),
    # A sender's clock (or zone) a few hours ahead is still today.
    ("Dec  6 22:00:00", "2026-12-06T18:23:00Z", "2026-12-06T22:00:00Z"),
    ("Dec 31 23:59:59", "2027-01-01T00:00:10Z", "2026-12-31T23:59:59Z"),
    ("Jan  1 00:00:05", "2027-01-01T00:00:10Z", "2027-01-01T00:00:05Z"),
    # Feb 29 is the latest leap year's.
    ("Feb 29 12:00:00", "2026-12-06T18:23:00Z", "2024-02-29T12:00:00Z"),
])
def test_year_less_syslog_never_lands_in_the_future(stamp, now, iso):
    line = f"{stamp} LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186"
    (ev,) = text.parse(Record(text=line), ParseContext(now_ms=iso_to_ms(now)))
    assert ev.timestamp_ms == iso_to_ms(iso)
    assert not ev.timestamp_estimated


def test_apache_httpd_error_log(parse_data):
    events, dead = parse_data("auto", "text/apache-error.log")
    assert dead == []
    notice, error, core = events
    assert notice.timestamp_ms == iso_to_ms("2005-12-04T04:47:44Z")
    assert (notice.level, notice.service) == ("info", "httpd")
    assert notice.message == "workerEnv.init() ok /etc/httpd/conf/workers2.properties"
    assert error.level == "error" and error.message == "mod_jk child workerEnv in error state 6"
    assert core.timestamp_ms == iso_to_ms("2000-10-11T14:32:52.123Z")
    assert core.labels["logger"] == "core" and core.labels["process_id"] == "35708"
    assert core.labels["client_ip"] == "72.15.99.187"
    assert core.message == "File does not exist: /usr/local/apache2/htdocs/favicon.ico"


def test_klog_lines_take_the_year_as_syslog_does(parse_data):
    events, dead = parse_data("auto", "text/klog.log")  # read on 2024-03-08
    assert dead == []
    started, warned, failed = events
    assert started.timestamp_ms == iso_to_ms("2024-03-01T10:00:00.123Z")
    assert started.labels == {"logger": "main.go:104", "thread": "1"}
    assert started.message == '"Starting NGINX Ingress controller"'
    assert (warned.level, failed.level) == ("warn", "error")


def test_a_utc_suffix_is_the_zone_not_the_message():
    (ev,) = text.parse(Record(text="2024-03-01 10:00:00.123 UTC [12345] LOG:  database system "
                                   "is ready"), ParseContext(tz=ZoneInfo("Europe/Berlin")))
    assert ev.timestamp_ms == iso_to_ms("2024-03-01T10:00:00.123Z")
    assert ev.message.startswith("[12345] LOG:")


@pytest.mark.parametrize("line, order, iso", [
    ("31/12/2024 23:59:58,250 ERROR OrderService: failed", "auto", "2024-12-31T23:59:58.250Z"),
    ("12/31/2024 23:59:58 WARN OrderService: late", "auto", "2024-12-31T23:59:58Z"),
    ("05/03/2024 10:00:00 INFO OrderService: started", "dmy", "2024-03-05T10:00:00Z"),
    ("05/03/2024 10:00:00 INFO OrderService: started", "mdy", "2024-05-03T10:00:00Z"),
])
def test_day_month_year_dates_by_their_values_or_date_order(line, order, iso):
    assert text.detect(line)
    (ev,) = text.parse(Record(text=line), ParseContext(date_order=order))
    assert ev.timestamp_ms == iso_to_ms(iso) and not ev.timestamp_estimated


def test_an_ambiguous_day_month_is_refused_not_guessed():
    with pytest.raises(ParseError, match="ambiguous date 05/03/2024.*set the input's date_order"):
        text.parse(Record(text="05/03/2024 10:00:00 INFO OrderService: started"),
                   ParseContext())


def test_hdfs_compact_dates_ignore_date_order():
    (ev,) = text.parse(Record(text="081109 203615 148 INFO dfs.DataNode: x"),
                       ParseContext(date_order="dmy"))
    assert ev.timestamp_ms == iso_to_ms("2008-11-09T20:36:15Z")


def test_websphere_and_liberty_logs(parse_data):
    """WebSphere's en_US ``M/d/yy`` with milliseconds after a colon and a zone abbreviation,
    and Liberty's comma: read in the zone they name."""
    events, dead = parse_data("auto", "text/websphere-SystemOut.log")
    assert dead == []
    started, rejected, liberty = events
    assert started.timestamp_ms == iso_to_ms("2005-07-12T18:46:00.264Z")  # EDT is UTC-4
    assert started.labels == {"logger": "ApplicationMg", "thread": "0000001a",
                              "event_code": "WSVR0221I"}
    assert rejected.level == "error" and rejected.ids == ["order:PO-4711"]
    assert rejected.timestamp_ms == iso_to_ms("2024-03-01T10:00:02.117Z")
    assert liberty.timestamp_ms == iso_to_ms("2024-03-01T10:00:03.500Z")
    assert liberty.labels["event_code"] == "CWWKE0001I"


def test_websphere_day_first_locale_by_date_order():
    line = "[1/3/24 10:00:02:117 UTC] 0000004f OrderService  I   started"
    (ev,) = text.parse(Record(text=line), ParseContext(date_order="dmy"))
    assert ev.timestamp_ms == iso_to_ms("2024-03-01T10:00:02.117Z")


def test_weblogic_log_file_and_standard_out(parse_data):
    events, dead = parse_data("auto", "text/weblogic-server.log")
    assert dead == []
    started, failed, running = events
    # The documentation's own example: its raw time value is another day than its stamp,
    # so the stamp as shown wins; where both agree the raw value gives the milliseconds.
    assert started.timestamp_ms == iso_to_ms("2004-09-22T15:46:51Z")
    assert (started.host, started.service) == ("MyComputer", "examplesServer")
    assert started.labels["event_code"] == "BEA-000360"
    assert started.message == "Server started in RUNNING mode"
    assert failed.timestamp_ms == 1_709_287_204_250 and failed.level == "error"
    assert failed.labels["thread"].startswith("[ACTIVE] ExecuteThread: '12'")
    assert failed.message.startswith('Failed to start JMS Server "OrdersJMSServer"')
    assert running.timestamp_ms == iso_to_ms("2024-03-01T10:00:05Z")
    assert running.labels == {"logger": "WebLogicServer", "event_code": "BEA-000365"}



def test_weblogic_on_jdk_20_and_later(parse_text):
    """WebLogic 14.1.2 runs on JDK 21, whose English time format (CLDR 42, from JDK 20) puts
    U+202F NARROW NO-BREAK SPACE before AM/PM. Before this change both layouts (log file and
    standard out) were dead-lettered as no_parser."""
    text = ("####<Mar 18, 2024 6:52:42,123\u202fPM UTC> <Error> <HTTP> <host1> <AdminServer> "
            "<main> <<WLS Kernel>> <> <a1b2c3d4-0001> <1710759162123> <[severity-value: 8] > "
            "<BEA-101020> <Servlet failed with an Exception>\n"
            "<Mar 18, 2024 6:52:43\u202fPM UTC> <Warning> <JDBC> <BEA-001129> "
            "<Received exception while creating connection for pool orders>\n")
    events, dead = parse_text("auto", text)
    assert dead == []
    failed, warned = events
    assert failed.timestamp_ms == iso_to_ms("2024-03-18T18:52:42.123Z")
    assert failed.level == "error"
    assert warned.timestamp_ms == iso_to_ms("2024-03-18T18:52:43Z") and warned.level == "warn"


def test_weblogic_standard_out_in_a_zone_not_in_the_table(parse_text):
    """A WebLogic standard-out line has no raw time value; when its zone abbreviation is not
    one the table knows (SGT, JST, IST...), the module says the input's zone applies. Before
    this change the line got the time it was read at instead (flagged estimated), hours or
    days off, out of order against the server's own log file."""
    text = ("<Mar 18, 2024 6:52:43 PM SGT> <Warning> <JDBC> <BEA-001129> "
            "<Received exception while creating connection for pool orders>\n")
    (ev,), dead = parse_text("auto", text, tz=ZoneInfo("Asia/Singapore"))
    assert dead == []
    assert ev.timestamp_ms == iso_to_ms("2024-03-18T10:52:43Z") and not ev.timestamp_estimated

def test_weblogic_message_over_several_lines():
    record = ("####<Mar 1, 2024 10:00:04,250 AM UTC> <Error> <HTTP> <h> <s> <t> <> <> <> "
              "<1709287204250> <BEA-101020> <[ServletContext@1] Servlet failed with an Exception\n"
              "java.lang.IllegalStateException: closed\n\tat a.B.c(B.java:1)>")
    (ev,) = text.parse(Record(text=record), ParseContext())
    assert ev.message == "[ServletContext@1] Servlet failed with an Exception"
    assert ev.error_type == "java.lang.IllegalStateException"


def test_oracle_diagnostic_logging(parse_data):
    """SOA Suite and OSB lines share the ECID of one request: one ``oracle.ecid`` ID joins
    them, without the position in the call tree after the comma."""
    events, dead = parse_data("auto", "text/oracle-odl.log")
    assert dead == []
    soa, osb, payara = events
    assert soa.timestamp_ms == iso_to_ms("2024-03-01T10:00:00.123Z") and soa.level == "error"
    assert soa.service == "soa-infra" and soa.labels["event_code"] == "SOA-20003"
    assert soa.labels["thread"].startswith("[ACTIVE].ExecuteThread: '7'")
    assert soa.message == ("Unable to dispatch request to OrderService due to exception "
                           "orderId=PO-4711")
    assert soa.ids == ["oracle.ecid:5ab1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d-0000abcd",
                       "order:PO-4711"]
    assert osb.level == "info" and osb.ids == soa.ids[:1]
    assert payara.timestamp_ms == 1_709_287_202_250
    assert payara.message == "Grizzly 2.4.4 started in: 40ms - bound to [/0.0.0.0:8080]"
    assert payara.labels["component"] == "Payara 5.2021.1"


def test_jetty_stderr_log(parse_data):
    events, dead = parse_data("auto", "text/jetty.log")
    assert dead == []
    started, warned = events
    assert started.timestamp_ms == iso_to_ms("2024-03-01T10:00:01.456Z")
    assert started.labels == {"logger": "oejs.Server", "thread": "main"}
    assert started.message == "Started @1234ms"
    assert warned.level == "warn" and warned.labels["thread"] == "qtp1234-17"


def test_artemis_logger_in_brackets_and_its_amq_codes(parse_data):
    """ActiveMQ Artemis's ``%d %-5p [%c] %s%e%n``: the bracket holds the logger, not the
    thread (read as ``[thread] logger:``, AMQ221007 was the logger); the AMQ code is the
    event code, and the error code of a warning or error."""
    events, dead = parse_data("auto", "text/artemis.log")
    assert dead == []
    assert {e.dataset for e in events} == {"generic.text"}
    starting, live, version, disk, refused, console = events
    assert live.labels == {"logger": "org.apache.activemq.artemis.core.server",
                           "event_code": "AMQ221007"}
    assert live.message == "AMQ221007: Server is now live"
    assert live.timestamp_ms == iso_to_ms("2024-05-02T10:11:12.345Z")
    assert live.error_code is None
    assert starting.labels["logger"] == "org.apache.activemq.artemis.integration.bootstrap"
    assert version.labels["event_code"] == "AMQ221001"
    assert (disk.level, disk.error_code) == ("warn", "AMQ222210")
    assert (refused.level, refused.error_code) == ("error", "AMQ214016")
    assert refused.error_type == "java.net.ConnectException"
    assert refused.labels["logger"] == "org.apache.activemq.artemis.core.client"
    assert "thread" not in refused.labels
    assert console.labels["logger"] == "org.apache.activemq.artemis"


def test_a_dotted_thread_before_a_dotted_logger_stays_the_thread():
    ev = text.parse(Record(text="2024-03-01 10:00:00,123 INFO  [scheduler.worker] "
                                "com.example.Poller - polled 3"), ParseContext())[0]
    assert ev.labels == {"logger": "com.example.Poller", "thread": "scheduler.worker"}
    assert ev.message == "polled 3"


def test_log4j_classic_layout_is_no_mule_log(parse_data):
    """``%d [%t] %-5p %c - %m%n`` is older mule_ee.log setups' layout, and every other Java
    program's: without a Mule thread or logger it is text, not ``mulesoft`` (auto gave a
    Camel log to the mule parser, its IDs unread)."""
    events, dead = parse_data("auto", "text/log4j-classic.log")
    assert dead == []
    assert {(e.dataset, e.platform) for e in events} == {("generic.text", "generic")}
    started, received, failed = events
    assert started.labels == {"logger": "org.apache.camel.impl.engine.AbstractCamelContext",
                              "thread": "main"}
    assert received.ids == ["order:PO-4711", "correlation:5c3f2a1b-77aa-4e0b-9c1d-2e3f4a5b6c7d"]
    assert failed.error_type == "java.net.ConnectException"
    assert failed.labels["thread"] == "Camel (camel-1) thread #2 - JmsConsumer[orders.in]"


@pytest.mark.parametrize("fmt", ["text", "auto"])
def test_api_gateway_execution_log_joins_the_access_logs_request(parse_data, fmt):
    """API Gateway's execution log ("(<request id>) Method request path: ...") came out as
    generic text without the request ID (the lines without a time as one parse_error dead
    letter): now each step is an ``apigw.aws_execution`` event carrying the request ID (and
    the extended one) as ``aws.request``, the ID the access log gives the same request, with
    or without the time an export writes first; a body over several lines stays with its step."""
    events, dead = parse_data(fmt, "text/aws-apigateway-execution.log")
    assert dead == []
    assert len(events) == 13
    assert {(ev.dataset, ev.platform) for ev in events} == {("apigw.aws_execution", "apigw")}
    console, exported = events[:9], events[9:]
    assert all("aws.request:a4188e34-1104-424e-9907-eebbf55dd662" in ev.ids for ev in console)
    assert console[0].ids[1] == "aws.request:NjZ4RFEcIAMFiBg="
    assert console[5].message == ("Method request path: {data-product-name=test_product1, "
                                  "table-name=%c2%a3}")
    assert console[8].labels["http_status"] == "400" and console[8].outcome == "failure"
    assert all(ev.timestamp_estimated for ev in console)
    assert exported[0].timestamp_ms == iso_to_ms("2023-10-27T13:41:02.310Z")
    assert exported[1].message.endswith('{\n  "orderId": "PO-4471"\n}')
    assert exported[2].level == "error" and exported[2].outcome == "failure"
    assert all(ev.ids[0] == "aws.request:7c0e1f52-2b0d-4d8e-b1a4-6f3e2d1c0b9a" for ev in exported)
    (access, *_), _ = parse_data("apigw", "apigw/aws-cloudwatch-export.log")
    assert console[0].ids[0] in access.ids


@pytest.mark.parametrize("fmt", ["text", "auto"])
def test_artemis_audit_log_thread_code_and_user(parse_data, fmt):
    """Artemis's audit log (``%d [AUDIT](%t) %s%E%n``) was read as text whose message began
    with ``[AUDIT](thread)``, with no thread and no code: now the thread (parentheses in it
    kept), the AMQ601xxx code as event code, the user and the client, and a refused security
    check as an auth failure."""
    events, dead = parse_data(fmt, "text/artemis-audit.log")
    assert dead == []
    session, sent, refused = events
    assert session.labels["thread"] == (
        "Thread-2 (ActiveMQ-server-org.apache.activemq.artemis.core.server.impl."
        "ActiveMQServerImpl$6@5f5b5c8)")
    assert session.message.startswith("AMQ601262: User guest(guest)@127.0.0.1:51234 is creating")
    assert [ev.labels["event_code"] for ev in events] == ["AMQ601262", "AMQ601500", "AMQ601264"]
    assert (sent.labels["user"], sent.labels["client"]) == ("admin", "10.0.0.5:40112")
    assert "order:PO-4471" in sent.ids
    assert refused.outcome == "failure" and refused.error_class == "auth"
    assert session.outcome != "failure" and sent.error_class is None
