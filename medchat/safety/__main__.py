"""python -m medchat.safety --report FILE | --triage TEXT"""

import sys

from medchat.safety.report import main

sys.exit(main())
