"""The tools a model may call: Search and Find over the knowledge base, Calculator, Calendar; plugins.

One module per tool; :mod:`~kbagent.tools.base` says what a tool is and :mod:`~kbagent.tools.registry`
which tools an agent gets (plugins come through the ``kbagent.tools`` entry-point group). The names
are re-exported here, where callers import them from.
"""

from kbagent.tools.base import CallContext, PageReader, Searcher, Tool, ToolOutput, page_text, run_tool
from kbagent.tools.calculator import (
    MAX_DIGITS,
    MAX_EXPRESSION_CHARS,
    MAX_NESTING,
    Calculator,
    CalculatorError,
    Number,
    calculate,
    format_number,
)
from kbagent.tools.calendar import Calendar
from kbagent.tools.dates import (
    MONTH_NUMBERS,
    MONTHS,
    WEEKDAYS,
    describe_date,
    describe_day,
    parse_day,
    parse_offset,
    resolve_timezone,
    shift,
)
from kbagent.tools.find import FIND_BUDGET, Find, occurrences
from kbagent.tools.registry import ENTRY_POINT_GROUP, ToolContext, ToolFactory, builtin_tools, load_tools, plugin_tools
from kbagent.tools.search import SEARCH_BUDGET, Search, fuse_rankings

__all__ = [
    "ENTRY_POINT_GROUP", "FIND_BUDGET", "MAX_DIGITS", "MAX_EXPRESSION_CHARS", "MAX_NESTING", "MONTHS",
    "MONTH_NUMBERS", "SEARCH_BUDGET", "WEEKDAYS", "Calculator", "CalculatorError", "Calendar", "CallContext",
    "Find", "Number", "PageReader", "Search", "Searcher", "Tool", "ToolContext", "ToolFactory", "ToolOutput",
    "builtin_tools", "calculate", "describe_date", "describe_day", "format_number", "fuse_rankings",
    "load_tools", "occurrences", "page_text", "parse_day", "parse_offset", "plugin_tools", "resolve_timezone",
    "run_tool", "shift",
]
