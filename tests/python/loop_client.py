#!/usr/bin/env python3
"""A client we did not write: Gridwhistle's closed loop driven through grpcio.

The stubs are generated from proto/ when the script starts, so the check is against the
contract as it stands, not against code the server shares. The script:

- uploads a photo across a stream it cuts on purpose, then resumes from QueryUpload's committed size;
- files a report referencing it, retrying CreateReport (after a deadline too short to succeed, and again
  after success) and checking every retry returns the first answer;
- reads a refused report's google.rpc.BadRequest details;
- whistles the report, has the lead and the assisting department report in, contact, post progress and
  complete; rejects, lets the lead rework, accepts;
- checks the case timeline and that the grid worker's WatchMyReports stream delivered every step in order;
- downloads the photo as the lead department (whole, then resumed from an offset, every chunk's CRC-32C and the
  SHA-256 checked) while another department gets NOT_FOUND, and finds the case in the supervisor's and the
  department's case queues, with a bad filter named in google.rpc.BadRequest;
- reads the month's ranking of departments and its CSV export;
- takes the closed case into the ledger of long-standing cases with a one-step plan (the opening retried), and
  completes the step as the lead's duty officer.

Exit status 0 means every check held. Run by tests/tests/python_client.rs against a test server.
"""

import argparse
import glob
import hashlib
import os
import secrets
import sys
import tempfile
import threading
import time
import uuid

PASSWORD = "gridwhistle-demo"
CHUNK = 64 * 1024


def generate_stubs(proto_root, out_dir):
    """Compiles every .proto under proto_root/gridwhistle into out_dir with grpc_tools' bundled protoc."""
    import grpc_tools
    from grpc_tools import protoc

    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    files = sorted(
        os.path.relpath(p, proto_root)
        for p in glob.glob(os.path.join(proto_root, "gridwhistle", "v1", "*.proto"))
    )
    if not files:
        raise SystemExit(f"no .proto files under {proto_root}")
    args = [
        "grpc_tools.protoc",
        f"-I{proto_root}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *files,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed on " + " ".join(files))
    sys.path.insert(0, out_dir)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def uuid7():
    """A UUIDv7: 48 bits of Unix milliseconds, version 7, the RFC 4122 variant, random bits."""
    ms = time.time_ns() // 1_000_000
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= secrets.randbits(12) << 64
    value |= 0b10 << 62
    value |= secrets.randbits(62)
    return str(uuid.UUID(int=value))


def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = CRC32C_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def photo(size):
    """Bytes a JPEG sniffer accepts: the SOI and JFIF APP0 markers, then a pattern."""
    head = bytes([0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10]) + b"JFIF\x00"
    return head + bytes((i * 31) % 251 for i in range(size - len(head)))


class Client:
    def __init__(self, target):
        import grpc
        from gridwhistle.v1 import attachment_pb2_grpc, auth_pb2_grpc, case_pb2_grpc, report_pb2_grpc

        self.grpc = grpc
        self.channel = grpc.insecure_channel(target)
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.auth = auth_pb2_grpc.AuthServiceStub(self.channel)
        self.reports = report_pb2_grpc.ReportServiceStub(self.channel)
        self.cases = case_pb2_grpc.CaseServiceStub(self.channel)
        self.attachments = attachment_pb2_grpc.AttachmentServiceStub(self.channel)
        self.tokens = {}

    def metadata(self, username):
        from gridwhistle.v1 import auth_pb2

        if username not in self.tokens:
            reply = self.auth.Login(auth_pb2.LoginRequest(username=username, password=PASSWORD), timeout=30)
            self.tokens[username] = reply.tokens.access_token
        return (("authorization", "Bearer " + self.tokens[username]),)


def upload_across_a_broken_stream(client, worker):
    """Uploads a photo whose first stream is cancelled mid-way; returns its attachment name."""
    from gridwhistle.v1 import report_pb2

    md = client.metadata(worker)
    data = photo(300_000)
    sha = hashlib.sha256(data).hexdigest()
    upload_id = str(uuid.uuid4())

    def chunk(offset):
        part = data[offset : offset + CHUNK]
        return report_pb2.UploadAttachmentRequest(
            upload_id=upload_id,
            total_size_bytes=len(data),
            sha256=sha,
            offset=offset,
            data=part,
            crc32c=crc32c(part),
        )

    hold = threading.Event()

    def first_stream():
        yield chunk(0)
        yield chunk(CHUNK)
        # The stream stays open until the client cuts it.
        hold.wait(30)

    call = client.reports.UploadAttachment.future(first_stream(), metadata=md, timeout=60)
    committed = 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            committed = client.reports.QueryUpload(
                report_pb2.QueryUploadRequest(upload_id=upload_id), metadata=md, timeout=10
            ).committed_size_bytes
        except client.grpc.RpcError as err:
            check(err.code() == client.grpc.StatusCode.NOT_FOUND, f"QueryUpload: {err}")
        if committed == 2 * CHUNK:
            break
        time.sleep(0.01)
    check(committed == 2 * CHUNK, f"two chunks committed before the cut, got {committed}")
    call.cancel()
    hold.set()
    check(call.cancelled(), "the first stream was cut by the client")

    status = client.reports.QueryUpload(report_pb2.QueryUploadRequest(upload_id=upload_id), metadata=md, timeout=10)
    check(status.committed_size_bytes == 2 * CHUNK, "the committed size survived the cut")
    check(status.total_size_bytes == len(data), "the upload remembers its total size")

    rest = (chunk(offset) for offset in range(status.committed_size_bytes, len(data), CHUNK))
    done = client.reports.UploadAttachment(rest, metadata=md, timeout=60)
    check(done.committed_size_bytes == len(data), "every byte committed")
    check(done.attachment.name == f"attachments/{sha}", f"content-addressed name, got {done.attachment.name}")
    check(done.attachment.content_type == "image/jpeg", f"sniffed type, got {done.attachment.content_type}")
    return done.attachment.name


def new_report(lat, lng, observe_seconds, attachment):
    from google.protobuf import timestamp_pb2
    from gridwhistle.v1 import common_pb2, report_pb2

    return report_pb2.Report(
        category="categories/neighbour-dispute",
        description="楼道堆放杂物，邻里争执",
        location=common_pb2.Location(
            latitude=lat,
            longitude=lng,
            coordinate_system=common_pb2.COORDINATE_SYSTEM_WGS84,
            accuracy_meters=8.0,
        ),
        observe_time=timestamp_pb2.Timestamp(seconds=observe_seconds),
        parties=[
            common_pb2.Party(name="张三丰", phone="13800138000", id_number="11010519491231002X", relation="住户")
        ],
        attachments=[attachment],
    )


def create_with_retries(client, worker, report):
    """Files `report`, retrying as a phone on a flaky network does; every answer must be the first one."""
    from gridwhistle.v1 import report_pb2

    grpc = client.grpc
    md = client.metadata(worker)
    request = report_pb2.CreateReportRequest(report_id=uuid7(), report=report)
    # A deadline too short to be met: the call may or may not have reached the server.
    try:
        client.reports.CreateReport(request, metadata=md, timeout=0.0005)
    except grpc.RpcError as err:
        # The client's own deadline, or the server's (tonic answers an expired grpc-timeout with CANCELLED).
        check(
            err.code() in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED),
            f"only the deadline fails: {err}",
        )
    first = client.reports.CreateReport(request, metadata=md, timeout=30).report
    again = client.reports.CreateReport(request, metadata=md, timeout=30).report
    check(first == again, "a retry returns the first answer")
    check(first.name == "reports/" + request.report_id, f"the report is named by its id: {first.name}")

    changed = report_pb2.CreateReportRequest()
    changed.CopyFrom(request)
    changed.report.description = "另一件事"
    try:
        client.reports.CreateReport(changed, metadata=md, timeout=30)
        check(False, "the same id with another payload must be refused")
    except grpc.RpcError as err:
        check(err.code() == grpc.StatusCode.ALREADY_EXISTS, f"ALREADY_EXISTS, got {err.code()}")

    listed = client.reports.ListMyReports(report_pb2.ListMyReportsRequest(page_size=100), metadata=md, timeout=30)
    check(
        [r.name for r in listed.reports].count(first.name) == 1,
        "the report is stored once whatever the retries",
    )
    return first


def refused_fields(client, worker, report):
    """The field violations of a report the server refuses, read from google.rpc.Status details."""
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status
    from gridwhistle.v1 import report_pb2

    grpc = client.grpc
    bad = report_pb2.Report()
    bad.CopyFrom(report)
    bad.location.latitude = 91.0
    bad.parties[0].phone = "12345"
    try:
        client.reports.CreateReport(
            report_pb2.CreateReportRequest(report_id=uuid7(), report=bad),
            metadata=client.metadata(worker),
            timeout=30,
        )
    except grpc.RpcError as err:
        check(err.code() == grpc.StatusCode.INVALID_ARGUMENT, f"INVALID_ARGUMENT, got {err.code()}")
        status = rpc_status.from_call(err)
        check(status is not None, "the error carries google.rpc.Status details")
        fields = []
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                request = error_details_pb2.BadRequest()
                detail.Unpack(request)
                fields.extend(v.field for v in request.field_violations)
        return fields
    raise AssertionError("a report at latitude 91 was accepted")


def error_reason(err):
    """The reason and domain of a refusal's google.rpc.ErrorInfo, and its google.rpc.RequestInfo's request id."""
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    status = rpc_status.from_call(err)
    check(status is not None, "the error carries google.rpc.Status details")
    reason = domain = request_id = None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, domain = info.reason, info.domain
        if detail.Is(error_details_pb2.RequestInfo.DESCRIPTOR):
            info = error_details_pb2.RequestInfo()
            detail.Unpack(info)
            request_id = info.request_id
    return reason, domain, request_id


class Watch(threading.Thread):
    """Collects (sequence, kind) of every event a server stream delivers, until cancelled."""

    def __init__(self, call):
        super().__init__(daemon=True)
        self.call = call
        self.events = []
        self.error = None

    def run(self):
        try:
            for message in self.call:
                self.events.append((message.report.name, message.event.sequence, message.event.kind))
        except Exception as err:  # noqa: BLE001 - a cancelled stream ends with an RpcError
            self.error = err


def run_loop(client, worker, lat, lng, observe_seconds):
    from gridwhistle.v1 import case_pb2, common_pb2, report_pb2

    grpc = client.grpc
    md = client.metadata(worker)
    watch_call = client.reports.WatchMyReports(report_pb2.WatchMyReportsRequest(), metadata=md)
    watch = Watch(watch_call)
    watch.start()
    # The stream starts at the log's horizon once the server has answered its headers.
    watch_call.initial_metadata()

    attachment = upload_across_a_broken_stream(client, worker)
    report = create_with_retries(client, worker, new_report(lat, lng, observe_seconds, attachment))
    check(list(report.attachments) == [attachment], "the report references the photo")
    check(not report.parties[0].masked, "the author sees the parties")
    fields = refused_fields(client, worker, new_report(lat, lng, observe_seconds, attachment))
    check("report.location.latitude" in fields, f"latitude named, got {fields}")
    check("report.parties[0].phone" in fields, f"phone named, got {fields}")

    whistled = client.reports.Whistle(
        report_pb2.WhistleRequest(
            name=report.name, kind=common_pb2.WHISTLE_KIND_ROUTINE, note="需要派出所协助", etag=report.etag
        ),
        metadata=md,
        timeout=30,
    )
    case = whistled.case
    check(len(case.assignments) == 2, f"a lead and an assisting department, got {len(case.assignments)}")
    lead, assist = (a.department for a in case.assignments)
    check(case.assignments[0].role == common_pb2.ASSIGNMENT_ROLE_LEAD, "the first assignment leads")

    def duty(department):
        return client.metadata("duty." + department.removeprefix("departments/"))

    lead_md, assist_md = duty(lead), duty(assist)
    inbox = client.cases.ListInbox(case_pb2.ListInboxRequest(), metadata=lead_md, timeout=30)
    check([c.name for c in inbox.cases] == [case.name], "the case is in the lead's inbox")

    client.cases.ReportIn(case_pb2.ReportInRequest(name=case.name, location=report.location), metadata=lead_md, timeout=30)
    client.cases.ReportIn(case_pb2.ReportInRequest(name=case.name), metadata=assist_md, timeout=30)
    client.cases.RecordContact(case_pb2.RecordContactRequest(name=case.name, note="电话联系双方"), metadata=lead_md, timeout=30)
    client.cases.PostProgress(case_pb2.PostProgressRequest(name=case.name, text="民警到场调解"), metadata=assist_md, timeout=30)
    completed = client.cases.CompleteCase(
        case_pb2.CompleteCaseRequest(name=case.name, result="杂物已清理"), metadata=lead_md, timeout=30
    ).case
    check(completed.state == case_pb2.CASE_STATE_AWAITING_VERIFICATION, f"awaiting verification, got {completed.state}")

    # Another department's duty officer cannot see the report's case; the answer is the same as for a missing one.
    try:
        client.cases.GetCase(case_pb2.GetCaseRequest(name=case.name), metadata=client.metadata("duty.housing"), timeout=30)
        check(False, "an unsummoned department must not read the case")
    except grpc.RpcError as err:
        check(err.code() == grpc.StatusCode.NOT_FOUND, f"NOT_FOUND for another department, got {err.code()}")

    current = client.reports.GetReport(report_pb2.GetReportRequest(name=report.name), metadata=md, timeout=30).report
    rejected = client.reports.VerifyResolution(
        report_pb2.VerifyResolutionRequest(name=report.name, accepted=False, reason="楼道仍有杂物", etag=current.etag),
        metadata=md,
        timeout=30,
    ).report
    check(rejected.state == report_pb2.REPORT_STATE_WHISTLED, f"rejection reopens the case, got {rejected.state}")
    reworked = client.cases.CompleteCase(
        case_pb2.CompleteCaseRequest(name=case.name, result="已彻底清理并张贴告示"), metadata=lead_md, timeout=30
    ).case
    check(reworked.rework_count == 1, f"one rework, got {reworked.rework_count}")
    # A verification sent with the etag read before the rework is refused: ABORTED, with a stable reason to branch on.
    try:
        client.reports.VerifyResolution(
            report_pb2.VerifyResolutionRequest(name=report.name, accepted=True, satisfaction=5, etag=current.etag),
            metadata=md,
            timeout=30,
        )
        check(False, "a stale etag must be refused")
    except grpc.RpcError as err:
        check(err.code() == grpc.StatusCode.ABORTED, f"ABORTED for a stale etag, got {err.code()}")
        reason, domain, request_id = error_reason(err)
        check((reason, domain) == ("STALE_ETAG", "gridwhistle.v1"), f"the STALE_ETAG reason, got {reason} in {domain}")
        header = dict(err.trailing_metadata() or ()).get("x-request-id") or dict(err.initial_metadata() or ()).get("x-request-id")
        check(request_id and (header is None or request_id == header), f"the request id {request_id} (header {header})")
    closed = client.reports.VerifyResolution(
        report_pb2.VerifyResolutionRequest(name=report.name, accepted=True, satisfaction=5), metadata=md, timeout=30
    ).report
    check(closed.state == report_pb2.REPORT_STATE_CLOSED, f"closed, got {closed.state}")

    view = client.cases.GetCase(case_pb2.GetCaseRequest(name=case.name), metadata=lead_md, timeout=30)
    k = case_pb2
    expected = [
        (k.CASE_EVENT_KIND_REPORTED, ""),
        (k.CASE_EVENT_KIND_WHISTLED, ""),
        (k.CASE_EVENT_KIND_REPORTED_IN, lead),
        (k.CASE_EVENT_KIND_REPORTED_IN, assist),
        (k.CASE_EVENT_KIND_CONTACTED, lead),
        (k.CASE_EVENT_KIND_PROGRESS, assist),
        (k.CASE_EVENT_KIND_COMPLETED, lead),
        (k.CASE_EVENT_KIND_REJECTED, lead),
        (k.CASE_EVENT_KIND_COMPLETED, lead),
        (k.CASE_EVENT_KIND_VERIFIED, ""),
    ]
    timeline = [(e.kind, e.department) for e in view.timeline]
    check(timeline == expected, f"timeline {timeline}")
    check([e.sequence for e in view.timeline] == list(range(1, len(expected) + 1)), "sequences count from 1")

    # The worker's stream delivered every step of this report, in order.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        mine = [(seq, kind) for name, seq, kind in watch.events if name == report.name]
        if len(mine) >= len(expected):
            break
        time.sleep(0.05)
    watch_call.cancel()
    watch.join(5)
    mine = [(seq, kind) for name, seq, kind in watch.events if name == report.name]
    check(
        mine == [(i + 1, kind) for i, (kind, _) in enumerate(expected)],
        f"WatchMyReports delivered {mine}",
    )
    read_back(client, worker, case.name, attachment, lead)
    read_ranking(client, lead, observe_seconds)
    work_ledger_entry(client, case.name, lead, observe_seconds)
    return len(view.timeline)


def download(client, md, name, offset=0):
    """Downloads name from offset, checking each chunk's place and CRC-32C; returns the bytes and the digest the chunks name."""
    from gridwhistle.v1 import attachment_pb2

    data = bytearray()
    digest = None
    for chunk in client.attachments.DownloadAttachment(
        attachment_pb2.DownloadAttachmentRequest(name=name, offset=offset), metadata=md, timeout=60
    ):
        check(chunk.offset == offset + len(data), f"chunk at {chunk.offset}, expected {offset + len(data)}")
        check(crc32c(chunk.data) == chunk.crc32c, "each chunk's CRC-32C matches its bytes")
        data.extend(chunk.data)
        digest = chunk.sha256
        check(offset + len(data) <= chunk.total_size_bytes, "no bytes past the total size")
    return bytes(data), digest


def read_back(client, worker, case_name, attachment, lead):
    """The lead downloads the worker's photo whole and resumed; the case is found through the queue."""
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    from gridwhistle.v1 import case_pb2

    grpc = client.grpc
    lead_md = client.metadata("duty." + lead.removeprefix("departments/"))
    sha = attachment.removeprefix("attachments/")
    name = f"{case_name}/attachments/{sha}"
    whole, digest = download(client, lead_md, name)
    check(hashlib.sha256(whole).hexdigest() == sha == digest, "the download's SHA-256 is the photo's")
    tail, _ = download(client, lead_md, name, offset=100_000)
    check(tail == whole[100_000:], "a download resumes from an offset")
    try:
        download(client, client.metadata("duty.housing"), name)
        check(False, "an unsummoned department must not download the photo")
    except grpc.RpcError as err:
        check(err.code() == grpc.StatusCode.NOT_FOUND, f"NOT_FOUND for another department, got {err.code()}")

    supervisor = client.metadata("supervisor")
    closed = client.cases.ListCases(
        case_pb2.ListCasesRequest(filter="state = CLOSED", order_by="whistle_time"), metadata=supervisor, timeout=30
    )
    check(case_name in [c.name for c in closed.cases], "the supervisor finds the closed case in the queue")
    own = client.cases.ListCases(case_pb2.ListCasesRequest(page_size=10), metadata=lead_md, timeout=30)
    check(case_name in [c.name for c in own.cases], "the lead finds its case in its own queue")
    try:
        client.cases.ListCases(case_pb2.ListCasesRequest(filter="colour = red"), metadata=supervisor, timeout=30)
        check(False, "an unknown filter field must be refused")
    except grpc.RpcError as err:
        check(err.code() == grpc.StatusCode.INVALID_ARGUMENT, f"INVALID_ARGUMENT, got {err.code()}")
        status = rpc_status.from_call(err)
        fields = []
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                fields.extend(v.field for v in bad.field_violations)
        check(fields == ["filter"], f"the filter is named, got {fields}")


def read_ranking(client, lead, observe_seconds):
    """The supervisor ranks the month's departments; the lead is there with its count pairs; the export is a CSV with a BOM."""
    import datetime

    from gridwhistle.v1 import stats_pb2, supervision_pb2_grpc

    supervision = supervision_pb2_grpc.SupervisionServiceStub(client.channel)
    beijing = datetime.timezone(datetime.timedelta(hours=8))
    month = datetime.datetime.fromtimestamp(observe_seconds, beijing).strftime("%Y-%m")
    period = stats_pb2.StatsPeriod(month=month)
    supervisor = client.metadata("supervisor")
    ranking = supervision.ListDepartmentStats(
        stats_pb2.ListDepartmentStatsRequest(period=period, order_by="response_rate desc"), metadata=supervisor, timeout=30
    )
    ranks = [s.rank for s in ranking.stats]
    check(ranks == list(range(1, len(ranks) + 1)), f"every department ranked in order, got {ranks}")
    ours = [s for s in ranking.stats if s.department == lead]
    check(len(ours) == 1, f"the lead {lead} is ranked")
    lead_stats = ours[0]
    check(lead_stats.assignment_count == 1, f"one assignment, got {lead_stats.assignment_count}")
    check(
        (lead_stats.response_rate.numerator, lead_stats.response_rate.denominator) == (1, 1),
        f"reported in on time, got {lead_stats.response_rate}",
    )
    check(lead_stats.closure_rate.numerator == 1, f"the case was accepted, got {lead_stats.closure_rate}")
    parts = supervision.ExportStats(
        stats_pb2.ExportStatsRequest(
            ranking=stats_pb2.ListDepartmentStatsRequest(period=period), format=stats_pb2.EXPORT_FORMAT_CSV
        ),
        metadata=supervisor,
        timeout=30,
    )
    data = b"".join(part.data for part in parts)
    check(data.startswith("\ufeff".encode()), "the CSV starts with a byte-order mark")
    check("响应率" in data.decode("utf-8"), "the CSV has Chinese headers")
    return lead_stats.rank


def work_ledger_entry(client, case_name, lead, observe_seconds):
    """The supervisor takes the case into the ledger of long-standing cases with a one-step plan; the lead's duty officer completes the step."""
    from google.protobuf.timestamp_pb2 import Timestamp

    from gridwhistle.v1 import common_pb2, ledger_pb2, ledger_pb2_grpc

    ledger = ledger_pb2_grpc.LedgerServiceStub(client.channel)
    supervisor = client.metadata("supervisor")
    request = ledger_pb2.OpenLedgerEntryRequest(
        entry_id=str(uuid.uuid4()),
        case=case_name,
        title="楼道纠纷反复信访",
        summary="结案后仍反复来访",
        nature=ledger_pb2.LEDGER_NATURE_FAMILY_AND_NEIGHBOURS,
        since_time=Timestamp(seconds=observe_seconds),
        complexity=ledger_pb2.LEDGER_LEVEL_MEDIUM,
        social_impact=ledger_pb2.LEDGER_LEVEL_LOW,
        grade=common_pb2.RISK_GRADE_A,
        responsible_unit=lead,
        responsible_person="街道副主任",
        steps=[
            ledger_pb2.LedgerStepPlan(
                department=lead,
                description="回访信访人",
                due_time=Timestamp(seconds=observe_seconds + 7 * 86400),
            )
        ],
    )
    entry = ledger.OpenLedgerEntry(request, metadata=supervisor, timeout=30).entry
    check(entry.colour == ledger_pb2.LEDGER_COLOUR_RED, f"grade A is red, got {entry.colour}")
    again = ledger.OpenLedgerEntry(request, metadata=supervisor, timeout=30).entry
    check(again.name == entry.name and again.etag == entry.etag, "a retry of the opening gets the same entry")
    done = ledger.CompleteLedgerStep(
        ledger_pb2.CompleteLedgerStepRequest(name=entry.name, etag=entry.etag, step=1, result="已回访，信访人满意"),
        metadata=client.metadata("duty." + lead.split("/", 1)[1]),
        timeout=30,
    ).entry
    check(done.steps[0].state == ledger_pb2.LEDGER_STEP_STATE_DONE, f"the step is done, got {done.steps[0]}")
    read = ledger.GetLedgerEntry(ledger_pb2.GetLedgerEntryRequest(name=entry.name), metadata=supervisor, timeout=30).entry
    kinds = [e.kind for e in read.timeline]
    check(
        kinds == [ledger_pb2.LEDGER_EVENT_KIND_OPENED, ledger_pb2.LEDGER_EVENT_KIND_STEP_COMPLETED],
        f"the timeline holds the opening and the step, got {kinds}",
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="host:port of a server started with --demo")
    parser.add_argument("--proto", required=True, help="the proto/ directory")
    parser.add_argument("--worker", default="worker.g-jianwai-1-01")
    parser.add_argument("--lat", type=float, required=True)
    parser.add_argument("--lng", type=float, required=True)
    parser.add_argument("--observe-time", type=int, required=True, help="Unix seconds the report was seen")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as out:
        generate_stubs(args.proto, out)
        client = Client(args.target)
        events = run_loop(client, args.worker, args.lat, args.lng, args.observe_time)
        print(f"python grpcio client: the closed loop ran with {events} timeline events")


if __name__ == "__main__":
    main()
